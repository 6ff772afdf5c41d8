/**
 * Every entry type and attribute a layer can carry, unpacked as root, and the result
 * mounted as overlayfs lowers to check that whiteouts and opaque directories work.
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, readFile, readdir, readlink, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { loadFsx } from '../../common/sys/index.js';
import { unpackLayer } from '../../image/unpack/index.js';
import { checkPrerequisites } from '../helpers/require.js';
import { buildTar, createSentinel, endOfArchive, paxHeader, rawFile, rawHeader, type Sentinel } from './unpack-fixtures.js';

const run = promisify(execFile);
const reason = checkPrerequisites({ root: true, commands: ['mount', 'umount'] });
const fsx = loadFsx();
const mtime = new Date(1_500_000_000_000);

function major(rdev: number): number {
  return Math.floor(rdev / 256) & 0xfff;
}
function minor(rdev: number): number {
  return rdev & 0xff;
}

describe.skipIf(reason)('unpackLayer entry types', () => {
  let sentinel: Sentinel;
  let before: string[];
  const at = (path: string): string => join(sentinel.layer, path);

  beforeEach(async () => {
    sentinel = await createSentinel();
    before = await sentinel.snapshot();
  });
  afterEach(async () => {
    expect(await sentinel.snapshot()).toEqual(before);
    await sentinel.remove();
  });

  async function unpack(tar: Buffer, dir = sentinel.layer): Promise<void> {
    await unpackLayer(Readable.from([tar]), dir);
  }

  it('restores modes, setuid, setgid and sticky included, and fills read-only directories', async () => {
    await unpack(
      await buildTar([
        { header: { name: 'suid', mode: 0o4755 }, content: '#!/bin/sh\n' },
        { header: { name: 'sgid', mode: 0o2711 }, content: 'x' },
        // tar-stream's pack() writes 0644 for a mode of 0; hence a hand-written header.
        { header: { name: 'none', mode: 0o001 }, content: 'x' },
        { header: { name: 'tmp/', type: 'directory', mode: 0o1777 } },
        { header: { name: 'shared/', type: 'directory', mode: 0o2775 } },
        { header: { name: 'ro/', type: 'directory', mode: 0o500 } },
        { header: { name: 'ro/inside', mode: 0o444 }, content: 'still written' },
        { header: { name: 'ro/sub/deeper', mode: 0o644 }, content: 'and this' },
      ]).then((tar) => Buffer.concat([tar.subarray(0, -1024), rawFile('none', 'x', 0), endOfArchive()])),
    );
    const modes = Object.fromEntries(
      await Promise.all(['suid', 'sgid', 'none', 'tmp', 'shared', 'ro', 'ro/inside'].map(async (p) => [p, (await lstat(at(p))).mode & 0o7777])),
    );
    expect(modes).toEqual({ suid: 0o4755, sgid: 0o2711, none: 0, tmp: 0o1777, shared: 0o2775, ro: 0o500, 'ro/inside': 0o444 });
    expect(await readFile(at('ro/sub/deeper'), 'utf8')).toBe('and this');
  });

  it('restores owners of every type, PAX uid and gid beyond the ustar range included', async () => {
    await unpack(
      Buffer.concat([
        (await buildTar([
          { header: { name: 'file', uid: 1000, gid: 1001 }, content: 'x' },
          { header: { name: 'dir/', type: 'directory', uid: 2000, gid: 2001 } },
          { header: { name: 'link', type: 'symlink', linkname: '/nowhere', uid: 3000, gid: 3001 } },
          { header: { name: 'fifo', type: 'fifo', uid: 4000, gid: 4001 } },
          { header: { name: 'null', type: 'character-device', devmajor: 1, devminor: 3, uid: 5000, gid: 5001 } },
          { header: { name: 'suid-owned', mode: 0o4755, uid: 6000, gid: 6001 }, content: 'x' },
        ])).subarray(0, -1024),
        paxHeader([['uid', '3000000'], ['gid', '3000001']]),
        rawFile('big-ids', 'x'),
        endOfArchive(),
      ]),
    );
    const owners = Object.fromEntries(
      await Promise.all(
        ['file', 'dir', 'link', 'fifo', 'null', 'suid-owned', 'big-ids'].map(async (p) => {
          const s = await lstat(at(p));
          return [p, `${s.uid}:${s.gid}`];
        }),
      ),
    );
    expect(owners).toEqual({
      file: '1000:1001',
      dir: '2000:2001',
      link: '3000:3001',
      fifo: '4000:4001',
      null: '5000:5001',
      'suid-owned': '6000:6001',
      'big-ids': '3000000:3000001',
    });
    // chown clears setuid: it must be set after.
    expect((await lstat(at('suid-owned'))).mode & 0o7777).toBe(0o4755);
  });

  it('restores mtimes of files, symlinks and directories written into afterwards', async () => {
    const later = new Date(1_600_000_000_000);
    await unpack(
      Buffer.concat([
        (await buildTar([
          { header: { name: 'dir/', type: 'directory', mtime } },
          { header: { name: 'dir/sub/', type: 'directory', mtime: later } },
          { header: { name: 'dir/file', mtime: later }, content: 'x' },
          { header: { name: 'dir/sub/file', mtime }, content: 'x' },
          { header: { name: 'dir/link', type: 'symlink', linkname: 'file', mtime } },
          { header: { name: 'dir/fifo', type: 'fifo', mtime } },
        ])).subarray(0, -1024),
        paxHeader([['mtime', '1700000000.25'], ['atime', '1700000001.5']]),
        rawFile('dir/precise', 'x'),
        endOfArchive(),
      ]),
    );
    expect((await lstat(at('dir'))).mtimeMs).toBe(mtime.getTime());
    expect((await lstat(at('dir/sub'))).mtimeMs).toBe(later.getTime());
    expect((await lstat(at('dir/file'))).mtimeMs).toBe(later.getTime());
    expect((await lstat(at('dir/sub/file'))).mtimeMs).toBe(mtime.getTime());
    expect((await lstat(at('dir/link'))).mtimeMs).toBe(mtime.getTime());
    expect((await lstat(at('dir/fifo'))).mtimeMs).toBe(mtime.getTime());
    const precise = await lstat(at('dir/precise'), { bigint: true });
    expect(precise.mtimeNs).toBe(1_700_000_000_250_000_000n);
    expect(precise.atimeNs).toBe(1_700_000_001_500_000_000n);
  });

  it('sets user.*, trusted.* and security.capability xattrs byte for byte', async () => {
    const binary = Buffer.from([0x00, 0xff, 0xfe, 0x80, 0x3d, 0x0a, 0x20]);
    // VFS_CAP_REVISION_2 | VFS_CAP_FLAGS_EFFECTIVE, permitted = CAP_SETUID (bit 7): not UTF-8.
    const capability = Buffer.from([0x01, 0, 0, 0x02, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    await unpack(
      Buffer.concat([
        paxHeader([
          ['SCHILY.xattr.user.text', 'hello'],
          ['SCHILY.xattr.user.binary', binary],
          ['SCHILY.xattr.trusted.berth', 'trusted'],
          ['SCHILY.xattr.security.capability', capability],
          ['SCHILY.xattr.trusted.overlay.opaque', 'y'],
        ]),
        rawFile('file', 'x', 0o755),
        paxHeader([['SCHILY.xattr.user.dir', 'd'], ['SCHILY.xattr.trusted.dir', 't']]),
        rawHeader({ name: 'dir/', typeflag: '5', mode: 0o755 }),
        paxHeader([['SCHILY.xattr.trusted.link', 'l'], ['SCHILY.xattr.user.link', 'ignored: user.* on a symlink']]),
        rawHeader({ name: 'link', typeflag: '2', linkname: 'file' }),
        endOfArchive(),
      ]),
    );
    expect(fsx.lgetxattr(at('file'), 'user.text').toString()).toBe('hello');
    expect(fsx.lgetxattr(at('file'), 'user.binary').equals(binary)).toBe(true);
    expect(fsx.lgetxattr(at('file'), 'trusted.berth').toString()).toBe('trusted');
    expect(fsx.lgetxattr(at('file'), 'security.capability').equals(capability)).toBe(true);
    expect(fsx.llistxattr(at('file'))).not.toContain('trusted.overlay.opaque');
    expect(fsx.lgetxattr(at('dir'), 'user.dir').toString()).toBe('d');
    expect(fsx.lgetxattr(at('dir'), 'trusted.dir').toString()).toBe('t');
    expect(fsx.lgetxattr(at('link'), 'trusted.link').toString()).toBe('l');
    expect(fsx.llistxattr(at('link'))).not.toContain('user.link');
  });

  it('links hardlinks to one inode and creates symlinks as they are', async () => {
    await unpack(
      await buildTar([
        { header: { name: 'bin/busybox', mode: 0o755 }, content: 'ELF' },
        { header: { name: 'bin/sh', type: 'link', linkname: 'bin/busybox', mode: 0o755 } },
        { header: { name: 'usr/bin/env', type: 'link', linkname: './bin/busybox', mode: 0o755 } },
        { header: { name: 'abs', type: 'symlink', linkname: '/bin/busybox' } },
        { header: { name: 'rel', type: 'symlink', linkname: '../../bin/busybox' } },
        { header: { name: 'dangling', type: 'symlink', linkname: 'no/such/file' } },
      ]),
    );
    const original = await lstat(at('bin/busybox'));
    expect(original.nlink).toBe(3);
    expect((await lstat(at('bin/sh'))).ino).toBe(original.ino);
    expect((await lstat(at('usr/bin/env'))).ino).toBe(original.ino);
    expect(await readlink(at('abs'))).toBe('/bin/busybox');
    expect(await readlink(at('rel'))).toBe('../../bin/busybox');
    expect(await readlink(at('dangling'))).toBe('no/such/file');
  });

  it('creates character and block devices and fifos', async () => {
    await unpack(
      await buildTar([
        { header: { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 } },
        { header: { name: 'dev/loop0', type: 'block-device', devmajor: 7, devminor: 0, mode: 0o660, gid: 6 } },
        { header: { name: 'run/fifo', type: 'fifo', mode: 0o620 } },
      ]),
    );
    const nul = await lstat(at('dev/null'));
    expect([nul.isCharacterDevice(), major(nul.rdev), minor(nul.rdev), nul.mode & 0o7777]).toEqual([true, 1, 3, 0o666]);
    const loop = await lstat(at('dev/loop0'));
    expect([loop.isBlockDevice(), major(loop.rdev), minor(loop.rdev), loop.mode & 0o7777, loop.gid]).toEqual([true, 7, 0, 0o660, 6]);
    const fifo = await lstat(at('run/fifo'));
    expect([fifo.isFIFO(), fifo.mode & 0o7777]).toEqual([true, 0o620]);
  });

  it('writes whiteouts as 0/0 character devices and opaque directories as trusted.overlay.opaque', async () => {
    await unpack(
      await buildTar([
        { header: { name: 'etc/.wh.gone' }, content: '' },
        { header: { name: 'opq/', type: 'directory' } },
        { header: { name: 'opq/new' }, content: 'new' },
        { header: { name: 'opq/.wh..wh..opq' }, content: '' },
        { header: { name: 'later/.wh..wh..opq' }, content: '' },
        { header: { name: 'same-layer' }, content: 'kept' },
        { header: { name: '.wh.same-layer' }, content: '' },
        { header: { name: 'same-dir/', type: 'directory' } },
        { header: { name: '.wh.same-dir' }, content: '' },
        { header: { name: '.wh.replaced' }, content: '' },
        { header: { name: 'replaced/', type: 'directory' } },
        { header: { name: '.wh..wh.plnk' }, content: '' },
      ]),
    );
    const gone = await lstat(at('etc/gone'));
    expect([gone.isCharacterDevice(), gone.rdev]).toEqual([true, 0]);
    expect(await readdir(at('etc'))).toEqual(['gone']);
    expect(fsx.lgetxattr(at('opq'), 'trusted.overlay.opaque').toString()).toBe('y');
    expect(await readdir(at('opq'))).toEqual(['new']);
    expect(fsx.lgetxattr(at('later'), 'trusted.overlay.opaque').toString()).toBe('y');
    // layer.md "Whiteouts": a whiteout never hides what the same layer added.
    expect(await readFile(at('same-layer'), 'utf8')).toBe('kept');
    expect(fsx.lgetxattr(at('same-dir'), 'trusted.overlay.opaque').toString()).toBe('y');
    expect(fsx.lgetxattr(at('replaced'), 'trusted.overlay.opaque').toString()).toBe('y');
    expect((await readdir(sentinel.layer)).sort()).toEqual(['etc', 'later', 'opq', 'replaced', 'same-dir', 'same-layer']);
  });

  it('produces lowers that overlayfs merges as the layers say', async () => {
    const lower1 = join(sentinel.layer, 'l1');
    const lower2 = join(sentinel.layer, 'l2');
    const merged = join(sentinel.layer, 'merged');
    await Promise.all([mkdir(lower1), mkdir(lower2), mkdir(merged)]);
    await unpack(
      await buildTar([
        { header: { name: 'etc/keep' }, content: 'keep' },
        { header: { name: 'etc/gone' }, content: 'gone' },
        { header: { name: 'opq/old' }, content: 'old' },
        { header: { name: 'opq/sub/older' }, content: 'older' },
        { header: { name: 'replaced/x' }, content: 'x' },
        { header: { name: 'dir/a' }, content: 'a' },
      ]),
      lower1,
    );
    await unpack(
      await buildTar([
        { header: { name: 'etc/.wh.gone' }, content: '' },
        { header: { name: 'etc/added' }, content: 'added' },
        { header: { name: 'opq/', type: 'directory' } },
        { header: { name: 'opq/.wh..wh..opq' }, content: '' },
        { header: { name: 'opq/new' }, content: 'new' },
        { header: { name: '.wh.replaced' }, content: '' },
        { header: { name: 'replaced/y' }, content: 'y' },
        { header: { name: 'dir/b' }, content: 'b' },
      ]),
      lower2,
    );
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `ro,lowerdir=${lower2}:${lower1}`, merged]);
    try {
      expect((await readdir(join(merged, 'etc'))).sort()).toEqual(['added', 'keep']);
      expect(await readdir(join(merged, 'opq'))).toEqual(['new']);
      expect((await readdir(join(merged, 'dir'))).sort()).toEqual(['a', 'b']);
      expect(await readdir(join(merged, 'replaced'))).toEqual(['y']);
      expect(await readFile(join(merged, 'etc/keep'), 'utf8')).toBe('keep');
      expect((await stat(join(merged, 'opq/new'))).isFile()).toBe(true);
    } finally {
      await run('umount', [merged]);
    }
  });
});
