import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, LimitExceededError } from '../../../../common/errors.js';
import { defaultUnpackLimits, resolveUnpackLimits, unpackLayer, type UnpackLimits } from '../../../../image/unpack/index.js';
import { buildTar, endOfArchive, paxHeader, rawFile, rawHeader, tempDir } from './tar-fixtures.js';

describe('resolveUnpackLimits', () => {
  it('uses the defaults for what is not overridden', () => {
    expect(resolveUnpackLimits({ maxEntries: 10 })).toEqual({ ...defaultUnpackLimits, maxEntries: 10 });
    expect(defaultUnpackLimits).toEqual({
      maxEntries: 1_000_000,
      maxPaxHeaderBytes: 1_048_576,
      maxUnpackedBytes: 64 * 1024 ** 3,
      maxPathBytes: 4096,
    });
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 60])('refuses %s', (value) => {
    expect(() => resolveUnpackLimits({ maxPathBytes: value })).toThrow(InvalidArgumentError);
  });
});

describe('unpackLayer limits', () => {
  let scratch: { path: string; remove: () => Promise<void> };
  let dir: string;

  beforeEach(async () => {
    scratch = await tempDir('limits');
    dir = join(scratch.path, 'layer');
    await mkdir(dir);
  });
  afterEach(async () => {
    await scratch.remove();
  });

  async function failure(tar: Buffer | Readable, limits: Partial<UnpackLimits>): Promise<LimitExceededError> {
    const source = Buffer.isBuffer(tar) ? Readable.from([tar]) : tar;
    const err = await unpackLayer(source, dir, { privileged: false, limits }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LimitExceededError);
    return err as LimitExceededError;
  }

  it('stops at maxEntries and names the limit, its value and how to raise it', async () => {
    const tar = await buildTar(Array.from({ length: 20 }, (_, i) => ({ header: { name: `f${i}` }, content: '' })));
    const err = await failure(tar, { maxEntries: 10 });
    expect(err.message).toBe('Cannot unpack layer: the number of entries exceeds limits.maxEntries (10)');
    expect(err.hint).toBe('If the image is trusted, raise "limits.maxEntries" in berth\'s config.json');
    expect(err.code).toBe('LIMIT_EXCEEDED');
    expect((await readdir(dir)).length).toBe(10);
  });

  it('stops at maxPaxHeaderBytes', async () => {
    const tar = await buildTar([{ header: { name: 'f', pax: { 'SCHILY.xattr.user.big': 'x'.repeat(5000) } }, content: '' }]);
    const err = await failure(tar, { maxPaxHeaderBytes: 4096 });
    expect(err.message).toMatch(/^Cannot unpack layer: a PAX header of \d+ bytes exceeds limits\.maxPaxHeaderBytes \(4096\)$/);
  });

  it('stops at maxUnpackedBytes on a declared size before reading the data', async () => {
    const source = Readable.from([rawHeader({ name: 'big', typeflag: '0', size: 2 ** 40 })]);
    const err = await failure(source, { maxUnpackedBytes: 1 << 20 });
    expect(err.message).toContain('exceeds limits.maxUnpackedBytes (1048576)');
  });

  it('stops at maxUnpackedBytes on the bytes of the stream', async () => {
    const tar = Buffer.concat([rawFile('a', Buffer.alloc(3000)), Buffer.alloc(1 << 16)]);
    await failure(tar, { maxUnpackedBytes: 1 << 15 });
  });

  it('stops at maxPathBytes for names and link targets', async () => {
    const longName = await buildTar([{ header: { name: `${'n/'.repeat(100)}file` }, content: '' }]);
    expect((await failure(longName, { maxPathBytes: 100 })).message).toMatch(/an entry name of 204 bytes exceeds limits\.maxPathBytes \(100\)/);
    const longLink = await buildTar([{ header: { name: 'l', type: 'symlink', linkname: 't'.repeat(200) } }]);
    expect((await failure(longLink, { maxPathBytes: 100 })).message).toMatch(/link target/);
  });

  it('stops at maxPathBytes for a GNU long name before tar-stream buffers it', async () => {
    const header = rawHeader({ name: '././@LongLink', typeflag: 'L', size: 1 << 30 });
    await failure(Readable.from([header]), { maxPathBytes: 4096 });
  });

  it('accepts what is exactly at the limits', async () => {
    const tar = Buffer.concat([paxHeader([['SCHILY.xattr.user.a', 'b']]), rawFile('f', 'x'), endOfArchive()]);
    const result = await unpackLayer(Readable.from([tar]), dir, {
      privileged: false,
      limits: { maxEntries: 1, maxUnpackedBytes: tar.length, maxPathBytes: 1, maxPaxHeaderBytes: 512 },
    });
    expect(result).toEqual({ entries: 1, bytes: 1 });
  });
});
