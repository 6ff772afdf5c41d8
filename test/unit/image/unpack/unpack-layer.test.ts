import { lstat, readFile, readdir, readlink, stat, symlink, writeFile, mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InterruptedError, InvalidArgumentError, InvalidContentError, NotFoundError } from '../../../../common/errors.js';
import { loadFsx } from '../../../../common/sys/index.js';
import { unpackLayer } from '../../../../image/unpack/index.js';
import { buildTar, chunked, endOfArchive, paxHeader, rawFile, rawHeader, tempDir } from './tar-fixtures.js';

const unprivileged = { privileged: false } as const;

describe('unpackLayer', () => {
  let scratch: { path: string; remove: () => Promise<void> };
  let dir: string;

  beforeEach(async () => {
    scratch = await tempDir('unpack');
    dir = join(scratch.path, 'layer');
    await mkdir(dir);
  });
  afterEach(async () => {
    await scratch.remove();
  });

  it('writes files, directories and symlinks with their modes and times', async () => {
    const tar = await buildTar([
      { header: { name: './', type: 'directory', mode: 0o755 } },
      { header: { name: './etc/', type: 'directory', mode: 0o750, mtime: new Date(1_600_000_000_000) } },
      { header: { name: './etc/config', mode: 0o640, mtime: new Date(1_500_000_000_000) }, content: 'key=value\n' },
      { header: { name: './bin/tool', mode: 0o4755 }, content: Buffer.alloc(300_000, 7) },
      { header: { name: './bin/link', type: 'symlink', linkname: '../etc/config' } },
      { header: { name: './empty', mode: 0o600 }, content: '' },
    ]);
    const result = await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect(result).toEqual({ entries: 6, bytes: 10 + 300_000 });
    expect(await readFile(join(dir, 'etc/config'), 'utf8')).toBe('key=value\n');
    const config = await stat(join(dir, 'etc/config'));
    expect(config.mode & 0o7777).toBe(0o640);
    expect(config.mtimeMs).toBe(1_500_000_000_000);
    const etc = await stat(join(dir, 'etc'));
    expect(etc.mode & 0o7777).toBe(0o750);
    expect(etc.mtimeMs).toBe(1_600_000_000_000);
    expect((await stat(join(dir, 'bin/tool'))).mode & 0o7777).toBe(0o4755);
    expect((await readFile(join(dir, 'bin/tool'))).equals(Buffer.alloc(300_000, 7))).toBe(true);
    expect(await readlink(join(dir, 'bin/link'))).toBe('../etc/config');
    expect((await stat(join(dir, 'empty'))).size).toBe(0);
  });

  it('accepts chunks of any size, one byte included', async () => {
    const tar = await buildTar([
      { header: { name: 'a/b/c.txt' }, content: 'hello' },
      { header: { name: 'a/d', type: 'symlink', linkname: 'b' } },
    ]);
    await unpackLayer(chunked(tar, 1), dir, unprivileged);
    expect(await readFile(join(dir, 'a/b/c.txt'), 'utf8')).toBe('hello');
  });

  it('accepts an async iterable of chunks', async () => {
    const tar = await buildTar([{ header: { name: 'f' }, content: 'x' }]);
    async function* source(): AsyncGenerator<Buffer> {
      yield tar.subarray(0, 100);
      yield tar.subarray(100);
    }
    await unpackLayer(source(), dir, unprivileged);
    expect(await readFile(join(dir, 'f'), 'utf8')).toBe('x');
  });

  it('creates missing parent directories', async () => {
    const tar = await buildTar([{ header: { name: 'deep/er/still/file' }, content: '1' }]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    // containerd's mkparent: implicit parents get 0755 (less the umask).
    expect((await stat(join(dir, 'deep/er/still'))).isDirectory()).toBe(true);
  });

  it('keeps paths inside the layer directory whatever the names say', async () => {
    const tar = await buildTar([
      { header: { name: '../../escape-dotdot' }, content: 'a' },
      { header: { name: '/escape-absolute' }, content: 'b' },
      { header: { name: 'x/../../../y' }, content: 'c' },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect((await readdir(dir)).sort()).toEqual(['escape-absolute', 'escape-dotdot', 'y']);
    expect(await readdir(scratch.path)).toEqual(['layer']);
  });

  it('writes through a symlink placed by an earlier entry as if the layer were the root', async () => {
    const tar = await buildTar([
      { header: { name: 'a', type: 'symlink', linkname: '/' } },
      { header: { name: 'a/x' }, content: 'x' },
      { header: { name: 'b', type: 'symlink', linkname: '../../..' } },
      { header: { name: 'b/y' }, content: 'y' },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect(await readFile(join(dir, 'x'), 'utf8')).toBe('x');
    expect(await readFile(join(dir, 'y'), 'utf8')).toBe('y');
    expect(await readdir(scratch.path)).toEqual(['layer']);
  });

  it('replaces a symlink at the final component instead of following it', async () => {
    const outside = join(scratch.path, 'outside');
    await writeFile(outside, 'keep');
    const tar = await buildTar([
      { header: { name: 'l', type: 'symlink', linkname: outside } },
      { header: { name: 'l', mode: 0o600 }, content: 'new' },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect(await readFile(outside, 'utf8')).toBe('keep');
    expect((await lstat(join(dir, 'l'))).isFile()).toBe(true);
  });

  it('ignores entries that resolve to the layer root', async () => {
    const mode = (await lstat(dir)).mode;
    const tar = await buildTar([
      { header: { name: '.', type: 'symlink', linkname: '/etc' } },
      { header: { name: '/.', type: 'symlink', linkname: '/etc' } },
      { header: { name: './', type: 'directory', mode: 0o777 } },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect((await lstat(dir)).isDirectory()).toBe(true);
    expect((await lstat(dir)).mode).toBe(mode);
    expect(await readdir(dir)).toEqual([]);
  });

  it('lets the last of duplicate entries win', async () => {
    const tar = await buildTar([
      { header: { name: 'ftod' }, content: 'file' },
      { header: { name: 'ftod', type: 'directory' } },
      { header: { name: 'dtof/', type: 'directory' } },
      { header: { name: 'dtof/child' }, content: 'child' },
      { header: { name: 'dtof' }, content: 'file' },
      { header: { name: 'ftof' }, content: 'first' },
      { header: { name: 'ftof' }, content: 'second' },
      { header: { name: 'dtod/', type: 'directory', mode: 0o700 } },
      { header: { name: 'dtod/kept' }, content: 'kept' },
      { header: { name: 'dtod/', type: 'directory', mode: 0o711 } },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect((await lstat(join(dir, 'ftod'))).isDirectory()).toBe(true);
    expect(await readFile(join(dir, 'dtof'), 'utf8')).toBe('file');
    expect(await readFile(join(dir, 'ftof'), 'utf8')).toBe('second');
    expect(await readFile(join(dir, 'dtod/kept'), 'utf8')).toBe('kept');
    expect((await stat(join(dir, 'dtod'))).mode & 0o777).toBe(0o711);
  });

  it('writes whiteouts as 0/0 character devices and opaque markers as user.overlay.opaque', async () => {
    const tar = await buildTar([
      { header: { name: 'etc/.wh.passwd' }, content: '' },
      { header: { name: 'var/.wh..wh..opq' }, content: '' },
      { header: { name: '.wh..wh.plnk' }, content: '' },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    const whiteout = await lstat(join(dir, 'etc/passwd'));
    expect(whiteout.isCharacterDevice()).toBe(true);
    expect(whiteout.rdev).toBe(0);
    expect(await readdir(join(dir, 'etc'))).toEqual(['passwd']);
    expect(loadFsx().lgetxattr(join(dir, 'var'), 'user.overlay.opaque').toString()).toBe('y');
    expect((await readdir(dir)).sort()).toEqual(['etc', 'var']);
  });

  it('never lets a whiteout hide what the same layer added, in any order', async () => {
    const tar = await buildTar([
      { header: { name: 'file' }, content: 'kept' },
      { header: { name: '.wh.file' }, content: '' },
      { header: { name: 'dir/', type: 'directory' } },
      { header: { name: '.wh.dir' }, content: '' },
      { header: { name: '.wh.later' }, content: '' },
      { header: { name: 'later/', type: 'directory' } },
      { header: { name: '.wh.implicit' }, content: '' },
      { header: { name: 'implicit/child' }, content: 'c' },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect(await readFile(join(dir, 'file'), 'utf8')).toBe('kept');
    // A directory where the layer also has a whiteout must hide the lower one: opaque.
    for (const name of ['dir', 'later', 'implicit']) {
      expect((await lstat(join(dir, name))).isDirectory()).toBe(true);
      expect(loadFsx().lgetxattr(join(dir, name), 'user.overlay.opaque').toString()).toBe('y');
    }
    expect(await readFile(join(dir, 'implicit/child'), 'utf8')).toBe('c');
  });

  it('keeps binary xattr values byte for byte', async () => {
    const value = Buffer.from([0x01, 0xff, 0x00, 0x80, 0x3d, 0x0a]);
    const tar = Buffer.concat([paxHeader([['SCHILY.xattr.user.bin', value]]), rawFile('f', 'data'), endOfArchive()]);
    await unpackLayer(chunked(tar, 7), dir, unprivileged);
    expect(loadFsx().lgetxattr(join(dir, 'f'), 'user.bin').equals(value)).toBe(true);
  });

  it('ignores overlay xattrs a layer tries to set', async () => {
    const tar = Buffer.concat([
      paxHeader([['SCHILY.xattr.user.overlay.opaque', 'y'], ['SCHILY.xattr.user.ok', '1']]),
      rawHeader({ name: 'd/', typeflag: '5', mode: 0o755 }),
      endOfArchive(),
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect(loadFsx().llistxattr(join(dir, 'd'))).toEqual(['user.ok']);
  });

  it('refuses a hardlink to a missing target', async () => {
    const tar = await buildTar([{ header: { name: 'h', type: 'link', linkname: 'missing' } }]);
    await expect(unpackLayer(Readable.from([tar]), dir, unprivileged)).rejects.toThrow(InvalidContentError);
  });

  it('refuses a hardlink to a directory', async () => {
    const tar = await buildTar([
      { header: { name: 'd', type: 'directory' } },
      { header: { name: 'h', type: 'link', linkname: 'd' } },
    ]);
    await expect(unpackLayer(Readable.from([tar]), dir, unprivileged)).rejects.toThrow(/points to directory/);
  });

  it('links hardlinks to the same inode, resolving the target inside the layer', async () => {
    const tar = await buildTar([
      { header: { name: 'etc/passwd' }, content: 'root' },
      { header: { name: 'h1', type: 'link', linkname: '../../etc/passwd' } },
      { header: { name: 'h2', type: 'link', linkname: '/etc/passwd' } },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    const ino = (await stat(join(dir, 'etc/passwd'))).ino;
    expect((await stat(join(dir, 'h1'))).ino).toBe(ino);
    expect((await stat(join(dir, 'h2'))).ino).toBe(ino);
  });

  it('reports a corrupt tar as InvalidContentError', async () => {
    const tar = await buildTar([{ header: { name: 'f' }, content: 'x' }]);
    tar[0] = 0x41; // breaks the header checksum
    const err = await unpackLayer(Readable.from([tar]), dir, unprivileged).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidContentError);
    expect((err as Error).message).toMatch(/^Cannot unpack layer: /);
  });

  it('reports a truncated tar as InvalidContentError', async () => {
    const tar = await buildTar([{ header: { name: 'f' }, content: Buffer.alloc(5000) }]);
    await expect(unpackLayer(Readable.from([tar.subarray(0, 2000)]), dir, unprivileged)).rejects.toThrow(InvalidContentError);
  });

  it('passes a source error through and destroys the source', async () => {
    // The error comes once the unpacker consumes the source ('resume': its pipeline reads),
    // not on a timer that a loaded machine may fire before unpackLayer has the source in its
    // pipeline: a source that errors with no reader is the test's uncaught error, not the
    // unpacker's.
    const source = new Readable({ read() {} });
    source.once('resume', () => setTimeout(() => source.destroy(new InvalidContentError('digest mismatch')), 10));
    source.push(await buildTar([{ header: { name: 'f' }, content: 'x' }]).then((b) => b.subarray(0, 1024)));
    await expect(unpackLayer(source, dir, unprivileged)).rejects.toThrow('digest mismatch');
    expect(source.destroyed).toBe(true);
  });

  it('stops with InterruptedError when aborted and destroys the source', async () => {
    const controller = new AbortController();
    const source = new Readable({ read() {} });
    source.push(rawHeader({ name: 'big', typeflag: '0', size: 1 << 30 }));
    source.push(Buffer.alloc(4096));
    setTimeout(() => controller.abort(), 20);
    await expect(unpackLayer(source, dir, { ...unprivileged, signal: controller.signal })).rejects.toThrow(InterruptedError);
    expect(source.destroyed).toBe(true);
  });

  it('refuses a signal that is already aborted', async () => {
    const controller = new AbortController();
    controller.abort();
    await expect(unpackLayer(Readable.from([endOfArchive()]), dir, { signal: controller.signal })).rejects.toThrow(InterruptedError);
  });

  it('refuses a missing directory and bad limits', async () => {
    await expect(unpackLayer(Readable.from([endOfArchive()]), join(dir, 'nope'))).rejects.toThrow(NotFoundError);
    await expect(unpackLayer(Readable.from([endOfArchive()]), dir, { limits: { maxEntries: 0 } })).rejects.toThrow(InvalidArgumentError);
  });

  it('refuses to write through a symlink to a missing directory', async () => {
    const tar = await buildTar([
      { header: { name: 'a', type: 'symlink', linkname: '/nowhere' } },
      { header: { name: 'a/x' }, content: 'x' },
    ]);
    await expect(unpackLayer(Readable.from([tar]), dir, unprivileged)).rejects.toThrow(/goes through symlink "a"/);
    expect(await readdir(dir)).toEqual(['a']);
  });

  it('follows a symlinked parent to an existing directory inside the layer', async () => {
    await symlink('/', join(scratch.path, 'unused'));
    const tar = await buildTar([
      { header: { name: 'real/', type: 'directory' } },
      { header: { name: 'l', type: 'symlink', linkname: 'real' } },
      { header: { name: 'l/sub/file' }, content: 'f' },
    ]);
    await unpackLayer(Readable.from([tar]), dir, unprivileged);
    expect(await readFile(join(dir, 'real/sub/file'), 'utf8')).toBe('f');
  });
});
