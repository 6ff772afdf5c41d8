/**
 * `berth cp` without privileges: docker's path rules and copy plan, archive names, the
 * in-root resolver on a plain temp directory, and copies out of a fake container root to
 * host directories and tar streams (nothing there needs chown). Writes into a container
 * (ownership, device nodes) are in test/integration/cp-copy.test.ts.
 */
import { mkdir, mkdtemp, readFile, readlink, rm, stat, symlink, writeFile, lstat, link } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { extract } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidContentError, NotFoundError } from '../../../common/errors.js';
import { copyFromContainer, parseCopyPath, planCopy } from '../../../runtime/copy.js';
import { entryComponents, rebaseName } from '../../../runtime/copy/entry.js';
import { RootedTree } from '../../../runtime/copy/rooted-tree.js';

describe('parseCopyPath', () => {
  it.each([
    ['/etc/hosts', '/', { clean: '/etc/hosts', contents: false, assertsDir: false, base: 'hosts' }],
    ['etc/hosts', '/', { clean: '/etc/hosts', contents: false, assertsDir: false, base: 'hosts' }],
    ['/etc/', '/', { clean: '/etc', contents: false, assertsDir: true, base: 'etc' }],
    ['/etc/.', '/', { clean: '/etc', contents: true, assertsDir: true, base: '.' }],
    ['/etc/./', '/', { clean: '/etc', contents: true, assertsDir: true, base: '.' }],
    ['/a/b/../c', '/', { clean: '/a/c', contents: false, assertsDir: false, base: 'c' }],
    ['/../../etc', '/', { clean: '/etc', contents: false, assertsDir: false, base: 'etc' }],
    ['/', '/', { clean: '/', contents: true, assertsDir: true, base: '.' }],
    ['.', '/work', { clean: '/work', contents: true, assertsDir: true, base: '.' }],
    ['out', '/work', { clean: '/work/out', contents: false, assertsDir: false, base: 'out' }],
  ])('reads %j (from %j) as docker does', (path, cwd, expected) => {
    expect(parseCopyPath(path, cwd)).toEqual(expected);
  });
});

describe('planCopy (docker PrepareArchiveCopy)', () => {
  const dest = (exists: boolean, isDir: boolean, assertsDir = false) => ({ exists, isDir, assertsDir, name: 'dst' });
  it('extracts into an existing directory, whatever the source', () => {
    expect(planCopy(false, dest(true, true))).toEqual({ kind: 'into' });
    expect(planCopy(true, dest(true, true))).toEqual({ kind: 'into' });
  });
  it('refuses a directory onto an existing file', () => {
    expect(planCopy(true, dest(true, false))).toEqual({ kind: 'dir-onto-file' });
  });
  it('overwrites an existing file, and creates a missing destination, under its name', () => {
    expect(planCopy(false, dest(true, false))).toEqual({ kind: 'as', name: 'dst' });
    expect(planCopy(true, dest(false, false))).toEqual({ kind: 'as', name: 'dst' });
    expect(planCopy(true, dest(false, false, true))).toEqual({ kind: 'as', name: 'dst' });
    expect(planCopy(false, dest(false, false))).toEqual({ kind: 'as', name: 'dst' });
  });
  it('refuses a file to a missing path that ends with "/"', () => {
    expect(planCopy(false, dest(false, false, true))).toEqual({ kind: 'missing-dir' });
  });
});

describe('archive names', () => {
  it('keep tar names inside the extraction directory', () => {
    expect(entryComponents('./a/b/')).toEqual(['a', 'b']);
    expect(entryComponents('/etc/passwd')).toEqual(['etc', 'passwd']);
    expect(entryComponents('a/../b')).toEqual(['b']);
    expect(entryComponents('.')).toEqual([]);
    expect(() => entryComponents('../x')).toThrowError(InvalidContentError);
    expect(() => entryComponents('a/../../x')).toThrowError(/outside of the destination/);
    expect(() => entryComponents('a\0b')).toThrowError(InvalidContentError);
  });

  it('rebase the top entry and what is under it only', () => {
    expect(rebaseName('etc', 'etc', 'conf')).toBe('conf');
    expect(rebaseName('etc/hosts', 'etc', 'conf')).toBe('conf/hosts');
    expect(rebaseName('etcetera', 'etc', 'conf')).toBe('etcetera');
    expect(rebaseName('./x', '.', 'out')).toBe('out/x');
    expect(rebaseName('.', '.', 'out')).toBe('out');
  });
});

let work: string;
let root: string;
beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-cp-unit-'));
  root = join(work, 'root');
  await mkdir(join(root, 'etc'), { recursive: true });
  await mkdir(join(work, 'host'));
  await writeFile(join(work, 'host-secret'), 'host secret\n');
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('RootedTree.lookup', () => {
  async function resolve(path: string, followLast = true): Promise<string> {
    const tree = await RootedTree.open(root);
    try {
      const found = await tree.lookup(path, { followLast });
      await found.close();
      return `${found.path}${found.stats === undefined ? ' (missing)' : ''}`;
    } finally {
      await tree.close();
    }
  }

  it('restarts an absolute symlink at the root and stops ".." there', async () => {
    await writeFile(join(root, 'etc', 'conf'), 'x');
    await symlink(join(work, 'host-secret'), join(root, 'abs'));
    await symlink('/etc/conf', join(root, 'conf'));
    await symlink('../../../../etc', join(root, 'etc', 'up'));
    expect(await resolve('/conf')).toBe('/etc/conf');
    expect(await resolve('/conf', false)).toBe('/conf');
    expect(await resolve('/etc/up/conf')).toBe('/etc/conf');
    expect(await resolve('/../../../etc/conf')).toBe('/etc/conf');
    // The host path the symlink names, looked up inside the root, where it does not exist.
    await expect(resolve('/abs')).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('fails on symlink loops and on files used as directories', async () => {
    await symlink('/loop', join(root, 'loop'));
    await writeFile(join(root, 'file'), '');
    await expect(resolve('/loop')).rejects.toMatchObject({ code: 'ELOOP' });
    await expect(resolve('/file/x')).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});

describe('copyFromContainer on a plain directory root', () => {
  beforeEach(async () => {
    await mkdir(join(root, 'data', 'sub'), { recursive: true });
    await writeFile(join(root, 'data', 'a.txt'), 'alpha\n', { mode: 0o640 });
    await writeFile(join(root, 'data', 'sub', 'b.txt'), 'beta\n');
    await symlink('/etc/passwd', join(root, 'data', 'link'));
    await link(join(root, 'data', 'a.txt'), join(root, 'data', 'hard'));
  });

  it('copies a directory to a missing host path under that name, symlinks as symlinks', async () => {
    await copyFromContainer(root, '/data', join(work, 'host', 'out'), { followLink: false });
    const out = join(work, 'host', 'out');
    expect(await readFile(join(out, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect((await stat(join(out, 'a.txt'))).mode & 0o777).toBe(0o640);
    expect(await readFile(join(out, 'sub', 'b.txt'), 'utf8')).toBe('beta\n');
    expect(await readlink(join(out, 'link'))).toBe('/etc/passwd');
    expect((await stat(join(out, 'hard'))).ino).toBe((await stat(join(out, 'a.txt'))).ino);
  });

  it('copies a directory into an existing one, and only its contents with "/."', async () => {
    await copyFromContainer(root, '/data', join(work, 'host'), { followLink: false });
    expect(await readFile(join(work, 'host', 'data', 'a.txt'), 'utf8')).toBe('alpha\n');
    await mkdir(join(work, 'flat'));
    await copyFromContainer(root, '/data/.', join(work, 'flat'), { followLink: false });
    expect(await readFile(join(work, 'flat', 'sub', 'b.txt'), 'utf8')).toBe('beta\n');
  });

  it('copies a file onto an existing file, and into a directory by its name', async () => {
    await writeFile(join(work, 'host', 'existing'), 'old content that is longer\n');
    await copyFromContainer(root, '/data/a.txt', join(work, 'host', 'existing'), { followLink: false });
    expect(await readFile(join(work, 'host', 'existing'), 'utf8')).toBe('alpha\n');
    await copyFromContainer(root, 'data/sub/b.txt', join(work, 'host'), { followLink: false });
    expect(await readFile(join(work, 'host', 'b.txt'), 'utf8')).toBe('beta\n');
  });

  it('follows a symlink with -L inside the root, not on the host', async () => {
    await writeFile(join(root, 'etc', 'passwd'), 'root:x:0:0\n');
    await copyFromContainer(root, '/data/link', join(work, 'host', 'p'), { followLink: true });
    expect(await readFile(join(work, 'host', 'p'), 'utf8')).toBe('root:x:0:0\n');
    await copyFromContainer(root, '/data/link', join(work, 'host', 'l'), { followLink: false });
    expect((await lstat(join(work, 'host', 'l'))).isSymbolicLink()).toBe(true);
  });

  it('says "Could not find the file" for a missing source, as docker does', async () => {
    const copy = copyFromContainer(root, '/nope/x', join(work, 'host'), { followLink: false, container: 'web' });
    await expect(copy).rejects.toThrowError(NotFoundError);
    await expect(copyFromContainer(root, '/nope', join(work, 'host'), { followLink: false, container: 'web' }))
      .rejects.toThrowError('Could not find the file /nope in container web');
  });

  it('refuses a directory onto a host file, and a missing host parent', async () => {
    await writeFile(join(work, 'host', 'f'), '');
    await expect(copyFromContainer(root, '/data', join(work, 'host', 'f'), { followLink: false })).rejects.toThrowError(InvalidArgumentError);
    await expect(copyFromContainer(root, '/data', join(work, 'host', 'no', 'such'), { followLink: false })).rejects.toThrowError(NotFoundError);
    await expect(copyFromContainer(root, '/data/a.txt', `${join(work, 'host', 'newdir')}/`, { followLink: false })).rejects.toThrowError(NotFoundError);
  });

  it('fails instead of hanging when the tar stream\'s reader goes away', async () => {
    await writeFile(join(root, 'data', 'big'), Buffer.alloc(8 * 1024 * 1024, 1));
    const out = new PassThrough({ highWaterMark: 1024 });
    out.once('data', () => out.destroy(new Error('reader went away')));
    await expect(copyFromContainer(root, '/data', out, { followLink: false })).rejects.toThrowError(/reader went away/);
  });

  it('gives a directory on a pseudo file system without its contents', async () => {
    const out = new PassThrough();
    const names: string[] = [];
    const reading = (async () => {
      for await (const entry of out.pipe(extract())) {
        names.push(entry.header.name);
        entry.resume();
      }
    })();
    await copyFromContainer('/', '/proc/self/', out, { followLink: false });
    await reading;
    expect(names).toEqual(['self/']);
  });

  it('streams a tar archive with docker\'s names', async () => {
    const out = new PassThrough();
    const names: string[] = [];
    const reading = (async () => {
      for await (const entry of out.pipe(extract())) {
        names.push(`${entry.header.type} ${entry.header.name}${entry.header.linkname === null || entry.header.linkname === '' ? '' : ` -> ${entry.header.linkname}`}`);
        entry.resume();
      }
    })();
    await copyFromContainer(root, '/data', out, { followLink: false });
    await reading;
    expect(names).toEqual([
      'directory data/',
      'file data/a.txt',
      'link data/hard -> data/a.txt',
      'symlink data/link -> /etc/passwd',
      'directory data/sub/',
      'file data/sub/b.txt',
    ]);
  });
});
