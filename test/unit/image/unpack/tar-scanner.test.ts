import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract } from 'tar-stream';
import { describe, expect, it } from 'vitest';
import { LimitExceededError } from '../../../../common/errors.js';
import { defaultUnpackLimits, resolveUnpackLimits } from '../../../../image/unpack/index.js';
import { TarScanner, createScanTransform, decodePax } from '../../../../image/unpack/tar-scanner.js';
import { buildTar, endOfArchive, pad, paxHeader, rawFile, rawHeader } from './tar-fixtures.js';

interface Seen {
  name: string;
  paxKeys: string[] | undefined;
  scannedKeys: string[] | undefined;
  data: string;
}

/** Runs `tar` through the scanner and tar-stream in `chunkSize` chunks; returns what each saw. */
async function scanAlongside(tar: Buffer, chunkSize: number): Promise<{ seen: Seen[]; scanner: TarScanner }> {
  const scanner = new TarScanner(defaultUnpackLimits);
  const extractor = extract();
  const chunks = Array.from({ length: Math.ceil(tar.length / chunkSize) }, (_, i) => tar.subarray(i * chunkSize, (i + 1) * chunkSize));
  const feeding = pipeline(Readable.from(chunks), createScanTransform(scanner), extractor);
  const seen: Seen[] = [];
  for await (const entry of extractor) {
    const parts: Buffer[] = [];
    // tar-stream never ends the stream of a directory that declares a size: skip those.
    if (entry.header.type === 'file') for await (const chunk of entry) parts.push(chunk as Buffer);
    else entry.resume();
    const pax = entry.header.pax as Record<string, string> | null | undefined;
    seen.push({
      name: entry.header.name,
      paxKeys: pax ? Object.keys(pax).sort() : undefined,
      scannedKeys: (() => {
        const records = scanner.takePax(entry.offset);
        return records ? [...records.keys()].sort() : undefined;
      })(),
      data: Buffer.concat(parts).toString(),
    });
  }
  await feeding;
  return { seen, scanner };
}

describe('TarScanner', () => {
  const longName = `${'d'.repeat(120)}/${'f'.repeat(120)}`;

  it.each([1, 7, 511, 512, 513, 4096, 1 << 20])('follows tar-stream framing in chunks of %i bytes', async (chunkSize) => {
    const tar = Buffer.concat([
      (await buildTar([
        { header: { name: 'a' }, content: 'x'.repeat(511) },
        { header: { name: 'b' }, content: 'y'.repeat(512) },
        { header: { name: 'c' }, content: 'z'.repeat(513) },
        { header: { name: longName }, content: 'long' },
        { header: { name: 'l', type: 'symlink', linkname: 't'.repeat(150) } },
        { header: { name: 'dir/', type: 'directory' } },
      ])).subarray(0, -1024),
      paxHeader([['size', '5'], ['SCHILY.xattr.user.a', Buffer.from([0xff, 0x00])]]),
      rawFile('sized-by-pax', 'hello').subarray(0, 512),
      pad(Buffer.from('hello')),
      rawHeader({ name: '././@LongLink', typeflag: 'L', size: longName.length + 1 }),
      pad(Buffer.from(`${longName}\0`)),
      rawFile('gnu-short', 'gnu'),
      rawHeader({ name: 'old-dir/', typeflag: '0', size: 0 }),
      rawHeader({ name: 'sized-dir/', typeflag: '5', size: 4096 }),
      paxHeader([['comment', 'global']], true),
      paxHeader([['SCHILY.xattr.user.b', 'v']]),
      rawFile('after-global', 'g'),
      rawHeader({ name: '', prefix: 'prefixed-dir', typeflag: '0' }),
      endOfArchive(),
      Buffer.alloc(10240),
    ]);
    const { seen, scanner } = await scanAlongside(tar, chunkSize);
    expect(scanner.tracking).toBe(true);
    expect(scanner.bytes).toBe(tar.length);
    expect(seen.map((s) => s.name)).toEqual([
      'a', 'b', 'c', longName, 'l', 'dir/', 'sized-by-pax', longName, 'old-dir/', 'sized-dir/', 'after-global', 'prefixed-dir/',
    ]);
    for (const entry of seen) expect(entry.scannedKeys).toEqual(entry.paxKeys);
    expect(seen.find((s) => s.name === 'sized-by-pax')?.data).toBe('hello');
    expect(seen.find((s) => s.name === 'after-global')?.scannedKeys).toEqual(['SCHILY.xattr.user.b', 'comment']);
  });

  it('keeps PAX values as raw bytes', () => {
    const value = Buffer.from([0xc3, 0x28, 0xff, 0x0a]);
    const body = paxHeader([['SCHILY.xattr.user.bin', value]]).subarray(512);
    expect(decodePax(body).get('SCHILY.xattr.user.bin')?.equals(value)).toBe(true);
  });

  it('refuses an oversized PAX header before buffering it', () => {
    const scanner = new TarScanner(resolveUnpackLimits({ maxPaxHeaderBytes: 1024 }));
    const header = rawHeader({ name: 'PaxHeaders/x', typeflag: 'x', size: 1 << 30 });
    expect(() => scanner.scan(header)).toThrow(LimitExceededError);
  });

  it('refuses an entry whose size crosses maxUnpackedBytes before its data arrives', () => {
    const scanner = new TarScanner(resolveUnpackLimits({ maxUnpackedBytes: 1 << 20 }));
    expect(() => scanner.scan(rawHeader({ name: 'bomb', typeflag: '0', size: 10 * 2 ** 30 }))).toThrow(/maxUnpackedBytes \(1048576\)/);
  });

  it('counts bytes of zero blocks, which tar-stream skips silently', () => {
    const scanner = new TarScanner(resolveUnpackLimits({ maxUnpackedBytes: 8192 }));
    scanner.scan(Buffer.alloc(8192));
    expect(() => scanner.scan(Buffer.alloc(512))).toThrow(LimitExceededError);
  });

  it('stops following the framing at a corrupt header and only counts', () => {
    const scanner = new TarScanner(defaultUnpackLimits);
    const header = rawHeader({ name: 'f', typeflag: '0', size: 10 });
    header[0] = 0x7a;
    scanner.scan(header);
    expect(scanner.tracking).toBe(false);
    scanner.scan(Buffer.alloc(100));
    expect(scanner.bytes).toBe(612);
  });
});
