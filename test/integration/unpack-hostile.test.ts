/**
 * Hostile layers: each test builds a tar that tries to reach outside the layer directory
 * (or to exhaust a resource) and asserts both that nothing outside the sentinel changed and
 * what the layer directory holds instead. Root: the unpack runs privileged (chown, mknod,
 * trusted.* xattrs), as it does for real pulls.
 */
import { randomBytes } from 'node:crypto';
import { lstat, readFile, readdir, readlink, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, gzipSync } from 'node:zlib';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidContentError, LimitExceededError } from '../../common/errors.js';
import { unpackLayer, type UnpackOptions } from '../../image/unpack/index.js';
import { checkPrerequisites } from '../helpers/require.js';
import {
  buildTar,
  createSentinel,
  exists,
  hostFileState,
  paxHeader,
  rawFile,
  rawHeader,
  type Sentinel,
} from './unpack-fixtures.js';

const reason = checkPrerequisites({ root: true });

describe.skipIf(reason)('unpackLayer against hostile layers', () => {
  let sentinel: Sentinel;
  let before: string[];
  const tag = randomBytes(6).toString('hex');
  const hostEscapes = [`/berth-escape-${tag}`, `/tmp/berth-escape-${tag}`, `/tmp/berth-escape-dir-${tag}`];

  beforeEach(async () => {
    sentinel = await createSentinel();
    before = await sentinel.snapshot();
  });
  afterEach(async () => {
    // The escapes must not exist; remove them anyway so that a failure leaves no trace.
    for (const path of hostEscapes) await rm(path, { recursive: true, force: true });
    await sentinel.remove();
  });

  async function unpack(tar: Buffer | Readable, options: UnpackOptions = {}): Promise<void> {
    await unpackLayer(Buffer.isBuffer(tar) ? Readable.from([tar]) : tar, sentinel.layer, options);
  }

  async function expectNothingOutside(): Promise<void> {
    expect(await sentinel.snapshot()).toEqual(before);
    for (const path of hostEscapes) expect(await exists(path)).toBe(false);
  }

  const layerPath = (path: string): string => join(sentinel.layer, path);

  it('keeps ".." and absolute names inside the layer', async () => {
    await unpack(
      await buildTar([
        { header: { name: '../../../escape-dotdot' }, content: 'a' },
        { header: { name: `/berth-escape-${tag}` }, content: 'b' },
        { header: { name: '/../../bait' }, content: 'c' },
        { header: { name: 'x/../../../outside.txt' }, content: 'd' },
        { header: { name: '../../outside-dir/', type: 'directory', mode: 0o700 } },
      ]),
    );
    await expectNothingOutside();
    expect((await readdir(sentinel.layer)).sort()).toEqual(['bait', `berth-escape-${tag}`, 'escape-dotdot', 'outside-dir', 'outside.txt']);
    expect(await readFile(layerPath('outside.txt'), 'utf8')).toBe('d');
  });

  it('writes through an earlier symlink to "/" or "../../.." as if the layer were the root', async () => {
    await unpack(
      await buildTar([
        { header: { name: 'tmp/', type: 'directory' } },
        { header: { name: 'a', type: 'symlink', linkname: '/' } },
        { header: { name: `a/tmp/berth-escape-${tag}` }, content: 'x' },
        { header: { name: 'b', type: 'symlink', linkname: '../../..' } },
        { header: { name: 'b/bait' }, content: 'y' },
        { header: { name: 'c', type: 'symlink', linkname: '/tmp' } },
        { header: { name: `c/berth-escape-dir-${tag}/z` }, content: 'z' },
      ]),
    );
    await expectNothingOutside();
    expect(await readFile(layerPath(`tmp/berth-escape-${tag}`), 'utf8')).toBe('x');
    expect(await readFile(layerPath('bait'), 'utf8')).toBe('y');
    expect(await readFile(layerPath(`tmp/berth-escape-dir-${tag}/z`), 'utf8')).toBe('z');
    expect(await readlink(layerPath('a'))).toBe('/');
  });

  it('refuses to write through a symlink whose target is missing in the layer', async () => {
    const tar = await buildTar([
      { header: { name: 'c', type: 'symlink', linkname: '/tmp' } },
      { header: { name: `c/berth-escape-${tag}` }, content: 'z' },
    ]);
    await expect(unpack(tar)).rejects.toThrow(InvalidContentError);
    await expectNothingOutside();
    expect(await readdir(sentinel.layer)).toEqual(['c']);
  });

  it('never replaces the layer root with a symlink', async () => {
    await unpack(
      await buildTar([
        { header: { name: '/.', type: 'symlink', linkname: '/' } },
        { header: { name: '.', type: 'symlink', linkname: sentinel.outsideDir } },
        { header: { name: './', type: 'symlink', linkname: '/etc' } },
        { header: { name: 'file' }, content: 'in the layer' },
      ]),
    );
    await expectNothingOutside();
    expect((await lstat(sentinel.layer)).isDirectory()).toBe(true);
    expect(await readdir(sentinel.layer)).toEqual(['file']);
  });

  it('resolves hardlinks to "../../etc/passwd" and "/etc/passwd" inside the layer', async () => {
    const passwd = await hostFileState('/etc/passwd');
    await unpack(
      await buildTar([
        { header: { name: 'etc/passwd' }, content: 'layer passwd\n' },
        { header: { name: 'h1', type: 'link', linkname: '../../etc/passwd' } },
        { header: { name: 'h2', type: 'link', linkname: '/etc/passwd' } },
        { header: { name: 's', type: 'symlink', linkname: '/' } },
        { header: { name: 'h3', type: 'link', linkname: 's/etc/passwd' } },
      ]),
    );
    await expectNothingOutside();
    expect(await hostFileState('/etc/passwd')).toBe(passwd);
    const ino = (await stat(layerPath('etc/passwd'))).ino;
    for (const link of ['h1', 'h2', 'h3']) expect((await lstat(layerPath(link))).ino).toBe(ino);
    expect((await stat(layerPath('etc/passwd'))).nlink).toBe(4);
  });

  it.each(['/etc/passwd', '../../../outside.txt', '../bait', 'missing'])('refuses a hardlink to %s when the layer lacks it', async (target) => {
    const passwd = await hostFileState('/etc/passwd');
    const tar = await buildTar([{ header: { name: 'h', type: 'link', linkname: target } }]);
    const err = await unpack(tar).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidContentError);
    expect((err as Error).message).toMatch(/^Cannot unpack layer: hardlink "h" points to ".*", which is not in the layer$/);
    await expectNothingOutside();
    expect(await hostFileState('/etc/passwd')).toBe(passwd);
    expect(await readdir(sentinel.layer)).toEqual([]);
  });

  it('keeps whiteouts inside the layer, through ".." and symlinked directories', async () => {
    await unpack(
      await buildTar([
        { header: { name: '../.wh.bait' }, content: '' },
        { header: { name: '../../../.wh.outside.txt' }, content: '' },
        { header: { name: 'real/', type: 'directory' } },
        { header: { name: 'l', type: 'symlink', linkname: '/' } },
        { header: { name: 'l/.wh.w2' }, content: '' },
        { header: { name: 'm', type: 'symlink', linkname: '../..' } },
        { header: { name: 'm/.wh.w3' }, content: '' },
        { header: { name: 'n', type: 'symlink', linkname: '/real' } },
        { header: { name: 'n/.wh.w4' }, content: '' },
        { header: { name: 'n/.wh..wh..opq' }, content: '' },
      ]),
    );
    await expectNothingOutside();
    for (const path of ['bait', 'outside.txt', 'w2', 'w3', 'real/w4']) {
      const s = await lstat(layerPath(path));
      expect(s.isCharacterDevice() && s.rdev === 0).toBe(true);
    }
    expect((await lstat(layerPath('l'))).isSymbolicLink()).toBe(true);
  });

  it('refuses a whiteout through a symlink to a directory outside the layer', async () => {
    const tar = await buildTar([
      { header: { name: 'o', type: 'symlink', linkname: sentinel.outsideDir } },
      { header: { name: 'o/.wh.anything' }, content: '' },
    ]);
    await expect(unpack(tar)).rejects.toThrow(InvalidContentError);
    await expectNothingOutside();
  });

  it('replaces a symlink instead of chmod, chown or utimes through it', async () => {
    const target = sentinel.outsideFile;
    const mtime = new Date(1_234_567_890_000);
    await unpack(
      await buildTar([
        { header: { name: 'l', type: 'symlink', linkname: target } },
        { header: { name: 'l', type: 'directory', mode: 0o700, uid: 1234, gid: 1234, mtime } },
        { header: { name: 'm', type: 'symlink', linkname: target } },
        { header: { name: 'm', mode: 0o4600, uid: 4321, gid: 4321, mtime }, content: 'm' },
        { header: { name: 'd', type: 'symlink', linkname: sentinel.outsideDir } },
        { header: { name: 'd', type: 'directory', mode: 0o711, mtime } },
        { header: { name: 's', type: 'symlink', linkname: target, uid: 555, gid: 556, mtime } },
        { header: { name: 'hl', type: 'link', linkname: 's', mode: 0o777, uid: 557, gid: 558, mtime } },
        { header: { name: 'f', type: 'symlink', linkname: target } },
        { header: { name: 'f', type: 'fifo', mode: 0o640, uid: 7, gid: 8, mtime } },
        { header: { name: 'c', type: 'symlink', linkname: target } },
        { header: { name: 'c', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o600, mtime } },
      ]),
    );
    await expectNothingOutside();
    const l = await lstat(layerPath('l'));
    expect([l.isDirectory(), l.mode & 0o7777, l.uid, l.gid, l.mtimeMs]).toEqual([true, 0o700, 1234, 1234, mtime.getTime()]);
    const m = await lstat(layerPath('m'));
    expect([m.isFile(), m.mode & 0o7777, m.uid, m.mtimeMs]).toEqual([true, 0o4600, 4321, mtime.getTime()]);
    expect((await lstat(layerPath('d'))).mode & 0o7777).toBe(0o711);
    const s = await lstat(layerPath('s'));
    expect([s.isSymbolicLink(), s.uid, s.gid, s.mtimeMs]).toEqual([true, 557, 558, mtime.getTime()]);
    expect((await lstat(layerPath('hl'))).ino).toBe(s.ino);
    expect((await lstat(layerPath('f'))).isFIFO()).toBe(true);
    expect((await lstat(layerPath('c'))).isCharacterDevice()).toBe(true);
  });

  it('lets the last of duplicate entries win', async () => {
    await unpack(
      await buildTar([
        { header: { name: 'ftod' }, content: 'file' },
        { header: { name: 'ftod', type: 'directory', mode: 0o750 } },
        { header: { name: 'dtof/', type: 'directory' } },
        { header: { name: 'dtof/child/deep' }, content: 'deep' },
        { header: { name: 'dtof' }, content: 'now a file' },
        { header: { name: 'ftof' }, content: 'first' },
        { header: { name: 'ftof', mode: 0o600 }, content: 'second' },
      ]),
    );
    await expectNothingOutside();
    const ftod = await lstat(layerPath('ftod'));
    expect([ftod.isDirectory(), ftod.mode & 0o7777]).toEqual([true, 0o750]);
    expect(await readFile(layerPath('dtof'), 'utf8')).toBe('now a file');
    expect(await readFile(layerPath('ftof'), 'utf8')).toBe('second');
    expect((await stat(layerPath('ftof'))).mode & 0o777).toBe(0o600);
  });

  it('lets the last of duplicate entries win with hardlinks and symlinks', async () => {
    await unpack(
      await buildTar([
        { header: { name: 'orig' }, content: 'old' },
        { header: { name: 'hard', type: 'link', linkname: 'orig' } },
        { header: { name: 'orig' }, content: 'new' },
        { header: { name: 'dtol/', type: 'directory' } },
        { header: { name: 'dtol/inside' }, content: 'gone' },
        { header: { name: 'dtol', type: 'symlink', linkname: '/' } },
        { header: { name: 'dtol/after' }, content: 'at the root' },
      ]),
    );
    await expectNothingOutside();
    expect(await readFile(layerPath('hard'), 'utf8')).toBe('old');
    expect(await readFile(layerPath('orig'), 'utf8')).toBe('new');
    expect(await readlink(layerPath('dtol'))).toBe('/');
    expect(await readFile(layerPath('after'), 'utf8')).toBe('at the root');
  });

  it('stops a gzip bomb of zero blocks at maxUnpackedBytes', async () => {
    const member = gzipSync(Buffer.alloc(64 << 20)); // 64 MiB of zeros in ~64 KiB
    let members = 0;
    function* bomb(): Generator<Buffer> {
      for (; members < 160; members++) yield member; // 10 GiB once inflated
    }
    const gunzip = createGunzip();
    pipeline(Readable.from(bomb()), gunzip).catch(() => undefined);
    const err = await unpack(gunzip, { limits: { maxUnpackedBytes: 256 << 20 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as Error).message).toContain('limits.maxUnpackedBytes (268435456)');
    expect(members).toBeLessThan(16);
    await expectNothingOutside();
  });

  it('stops a file that declares 10 GiB before streaming it', async () => {
    let chunks = 0;
    function* source(): Generator<Buffer> {
      yield rawHeader({ name: 'huge', typeflag: '0', size: 10 * 2 ** 30 });
      for (; chunks < 10 * 1024; chunks++) yield Buffer.alloc(1 << 20);
    }
    const err = await unpack(Readable.from(source()), { limits: { maxUnpackedBytes: 1 << 30 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect(chunks).toBeLessThan(4);
    await expectNothingOutside();
  });

  it('stops an endless stream of entries at maxEntries', async () => {
    let made = 0;
    function* entries(): Generator<Buffer> {
      for (; made < 10_000_000; made++) yield rawHeader({ name: `f${made}`, typeflag: '0' });
    }
    const err = await unpack(Readable.from(entries()), { limits: { maxEntries: 1000 } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as Error).message).toBe('Cannot unpack layer: the number of entries exceeds limits.maxEntries (1000)');
    expect(made).toBeLessThan(2000);
    expect((await readdir(sentinel.layer)).length).toBe(1000);
    await expectNothingOutside();
  });

  it('stops a PAX header that declares 1 GiB before buffering it', async () => {
    let chunks = 0;
    function* source(): Generator<Buffer> {
      yield rawHeader({ name: 'PaxHeaders/huge', typeflag: 'x', size: 2 ** 30 });
      for (; chunks < 1024; chunks++) yield Buffer.alloc(1 << 20, 0x41);
    }
    const err = await unpack(Readable.from(source())).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    expect((err as Error).message).toBe('Cannot unpack layer: a PAX header of 1073741824 bytes exceeds limits.maxPaxHeaderBytes (1048576)');
    expect(chunks).toBeLessThan(4);
    await expectNothingOutside();
  });

  it('stops a real 2 MiB PAX header', async () => {
    const tar = Buffer.concat([paxHeader([['SCHILY.xattr.user.big', 'x'.repeat(2 << 20)]]), rawFile('f', 'x'), Buffer.alloc(1024)]);
    await expect(unpack(tar)).rejects.toThrow(LimitExceededError);
    expect(await readdir(sentinel.layer)).toEqual([]);
    await expectNothingOutside();
  });

  it('stops a name longer than maxPathBytes', async () => {
    const tar = await buildTar([{ header: { name: `${'deep/'.repeat(2000)}file` }, content: 'x' }]);
    await expect(unpack(tar)).rejects.toThrow(/an entry name of 10004 bytes exceeds limits\.maxPathBytes \(4096\)/);
    expect(await readdir(sentinel.layer)).toEqual([]);
    await expectNothingOutside();
  });
});
