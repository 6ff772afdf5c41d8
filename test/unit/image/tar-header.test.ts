/**
 * encodeTarHeader: the headers of committed layers, read back by tar-stream (which checks
 * the checksum and applies pax records) and byte by byte where tar-stream's view is lossy.
 */
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Header } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { encodeTarHeader, endOfArchive, tarPadding, type TarHeaderFields } from '../../../image/tar-header.js';

const base: TarHeaderFields = {
  name: 'f', type: 'file', mode: 0o644, uid: 0, gid: 0, size: 0, mtime: 1_700_000_000, linkname: '', devmajor: 0, devminor: 0, xattrs: new Map(),
};

async function headersOf(tar: Buffer): Promise<Header[]> {
  const extractor = extract();
  const feeding = pipeline(Readable.from([tar]), extractor);
  const out: Header[] = [];
  for await (const entry of extractor) {
    out.push(entry.header);
    entry.resume();
  }
  await feeding;
  return out;
}

describe('encodeTarHeader', () => {
  it('writes a plain ustar block when ustar holds everything', async () => {
    const header = encodeTarHeader({ ...base, name: 'dir/', type: 'directory', mode: 0o1755, uid: 1000, gid: 1000 });
    expect(header.length).toBe(512);
    expect(header.subarray(257, 265).toString('latin1')).toBe('ustar\u000000');
    const [read] = await headersOf(Buffer.concat([header, endOfArchive]));
    expect(read).toMatchObject({ name: 'dir/', type: 'directory', mode: 0o1755, uid: 1000, gid: 1000 });
    expect(read?.mtime?.getTime()).toBe(1_700_000_000_000);
  });

  it('gets the pax record lengths right across digit boundaries', async () => {
    // Records of 8 to 120 value bytes cross the 2- to 3-digit length boundary.
    for (let n = 80; n <= 120; n++) {
      const name = `${'n'.repeat(n)}é`;
      const xattrs = new Map([['user.v', Buffer.from('v'.repeat(n))]]);
      const tar = Buffer.concat([encodeTarHeader({ ...base, name, xattrs, size: 3 }), Buffer.from('abc'), tarPadding(3), endOfArchive]);
      const [read] = await headersOf(tar);
      expect(read?.name).toBe(name);
      expect(read?.pax).toMatchObject({ 'SCHILY.xattr.user.v': 'v'.repeat(n) });
    }
  });

  it('writes binary xattr values as raw bytes', () => {
    const value = Buffer.from([0xff, 0x00, 0x80, 0x0a]);
    const header = encodeTarHeader({ ...base, xattrs: new Map([['security.capability', value]]) });
    // " SCHILY.xattr.security.capability=" (34 bytes), the value (4), "\n" (1), the length (2).
    const record = Buffer.concat([Buffer.from('41 SCHILY.xattr.security.capability='), value, Buffer.from('\n')]);
    expect(header[156]).toBe('x'.charCodeAt(0));
    expect(header.subarray(512, 512 + record.length).equals(record)).toBe(true);
  });

  it('moves long link targets and large ids to pax records', async () => {
    const linkname = 'l'.repeat(300);
    const tar = Buffer.concat([encodeTarHeader({ ...base, type: 'symlink', linkname, uid: 2_097_152, gid: 5 }), endOfArchive]);
    const [read] = await headersOf(tar);
    expect(read).toMatchObject({ name: 'f', linkname, gid: 5 });
    expect(read?.pax).toMatchObject({ uid: '2097152', linkpath: linkname });
  });

  it('writes sizes of 8 GiB and more in base-256 and as a pax record', () => {
    const size = 2 ** 33 + 5;
    const header = encodeTarHeader({ ...base, size });
    expect(header.subarray(512, 1024).toString('latin1')).toContain(`size=${size}\n`);
    const ustar = header.subarray(header.length - 512);
    expect(ustar[124]).toBe(0x80);
    expect(ustar.readUIntBE(130, 6)).toBe(size);
  });

  it('pads data to whole blocks', () => {
    expect(tarPadding(0).length).toBe(0);
    expect(tarPadding(1).length).toBe(511);
    expect(tarPadding(512).length).toBe(0);
  });
});
