/**
 * `berth cp` as root, against a fake container root (a plain temp directory: the in-root
 * resolver works on any directory) and once against a real one, `/proc/<pid>/root` of a
 * process that pivot_root'ed into its own mount namespace. The attacks plant symlinks in
 * the container that point at a host canary directory by its absolute host path: a copy
 * must neither write there nor read from there (atime of the canary is checked too), and
 * whatever the copy does happens inside the fake root.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import {
  chmod, chown, link, lstat, mkdir, mkdtemp, readdir, readFile, readlink, rm, stat, symlink, utimes, writeFile,
} from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { extract, pack } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError, InvalidArgumentError, InvalidContentError, NotFoundError } from '../../common/errors.js';
import { loadFsx } from '../../common/sys/index.js';
import { copyFromContainer, copyToContainer } from '../../runtime/copy.js';
import { checkPrerequisites } from '../helpers/require.js';

const reason = checkPrerequisites({ root: true, commands: ['unshare', 'pivot_root', 'mount'] });

let work: string;
/** The fake container root. */
let root: string;
/** Host files to copy in, and where copies out land. */
let host: string;
/** Host files the container's symlinks point at. */
let canary: string;
let canaryBefore: string[];

/**
 * The canary's paths with type, mode, owner, size, inode, links and all three times, by
 * lstat alone: listing the directories would itself move their atime. A directory's
 * mtime and ctime change when an entry is added or removed in it.
 */
async function snapshot(dir: string): Promise<string[]> {
  const lines: string[] = [];
  for (const path of [dir, join(dir, 'secret'), join(dir, 'passwd'), join(dir, 'sub')]) {
    const s = await lstat(path);
    lines.push(`${path} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${s.size} ${s.ino} ${s.nlink} a=${s.atimeMs} m=${s.mtimeMs} c=${s.ctimeMs}`);
  }
  return lines;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

async function expectCanaryUntouched(): Promise<void> {
  expect(await snapshot(canary)).toEqual(canaryBefore);
}

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-cp-'));
  root = join(work, 'root');
  host = join(work, 'host');
  canary = join(work, 'canary');
  await mkdir(join(root, 'data'), { recursive: true });
  await mkdir(host);
  await mkdir(join(canary, 'sub'), { recursive: true });
  await writeFile(join(canary, 'secret'), 'host secret\n', { mode: 0o600 });
  await writeFile(join(canary, 'passwd'), 'host passwd\n');
  // atime before mtime: under relatime any read of these would move atime (mount(8) "relatime").
  for (const path of [join(canary, 'secret'), join(canary, 'passwd'), join(canary, 'sub'), canary]) {
    await utimes(path, 1_000_000_000, 1_000_000_100);
  }
  canaryBefore = await snapshot(canary);
});

afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

describe.skipIf(reason)('copyToContainer', () => {
  it('writes a file into a directory as root:root with the source mode, or with its owner in archive mode', async () => {
    await writeFile(join(host, 'tool'), '#!/bin/sh\n');
    await chown(join(host, 'tool'), 1234, 2345);
    // After chown, which clears setuid.
    await chmod(join(host, 'tool'), 0o4755);
    await copyToContainer(root, join(host, 'tool'), '/data', { archive: false });
    let s = await stat(join(root, 'data', 'tool'));
    expect([s.uid, s.gid, s.mode & 0o7777]).toEqual([0, 0, 0o4755]);
    await copyToContainer(root, join(host, 'tool'), '/data/kept', { archive: true });
    s = await stat(join(root, 'data', 'kept'));
    expect([s.uid, s.gid, s.mode & 0o7777]).toEqual([1234, 2345, 0o4755]);
    expect(await readFile(join(root, 'data', 'kept'), 'utf8')).toBe('#!/bin/sh\n');
  });

  it('copies a directory tree under its name, as the new name, or only its contents with "/."', async () => {
    await mkdir(join(host, 'app', 'lib'), { recursive: true });
    await writeFile(join(host, 'app', 'lib', 'x.so'), 'elf');
    await symlink('lib/x.so', join(host, 'app', 'x'));
    await chown(join(host, 'app', 'lib', 'x.so'), 1000, 1000);
    await utimes(join(host, 'app', 'lib'), 1_500_000_000, 1_500_000_000);
    await copyToContainer(root, join(host, 'app'), '/data', { archive: true });
    expect(await readFile(join(root, 'data', 'app', 'lib', 'x.so'), 'utf8')).toBe('elf');
    expect(await readlink(join(root, 'data', 'app', 'x'))).toBe('lib/x.so');
    expect((await stat(join(root, 'data', 'app', 'lib', 'x.so'))).uid).toBe(1000);
    expect((await stat(join(root, 'data', 'app', 'lib'))).mtimeMs).toBe(1_500_000_000_000);
    await copyToContainer(root, join(host, 'app'), '/data/renamed', { archive: false });
    expect((await stat(join(root, 'data', 'renamed', 'lib', 'x.so'))).uid).toBe(0);
    await copyToContainer(root, `${join(host, 'app')}/.`, '/data', { archive: false });
    expect(await readFile(join(root, 'data', 'lib', 'x.so'), 'utf8')).toBe('elf');
  });

  it('refuses a directory onto a file, a missing parent, and a file to a missing "dir/"', async () => {
    await mkdir(join(host, 'dir'));
    await writeFile(join(host, 'file'), 'f');
    await writeFile(join(root, 'data', 'file'), 'f');
    await expect(copyToContainer(root, join(host, 'dir'), '/data/file', { archive: false })).rejects.toThrowError(InvalidArgumentError);
    await expect(copyToContainer(root, join(host, 'file'), '/nope/file', { archive: false, container: 'web' }))
      .rejects.toThrowError('Could not find the file /nope in container web');
    await expect(copyToContainer(root, join(host, 'file'), '/data/newdir/', { archive: false })).rejects.toThrowError(NotFoundError);
    await expect(copyToContainer(root, join(host, 'missing'), '/data', { archive: false })).rejects.toThrowError(NotFoundError);
  });

  it('never writes through an absolute symlink to the host: it resolves inside the root', async () => {
    await symlink(canary, join(root, 'etc'));
    await symlink(join(canary, 'passwd'), join(root, 'data', 'passwd'));
    await writeFile(join(host, 'passwd'), 'container passwd\n');
    // The parent "/etc" is the host canary's path inside the root, which does not exist.
    await expect(copyToContainer(root, join(host, 'passwd'), '/etc/passwd', { archive: false })).rejects.toThrowError(NotFoundError);
    await expect(copyToContainer(root, join(host, 'passwd'), '/etc/', { archive: false })).rejects.toThrowError(NotFoundError);
    // A destination that is a symlink is followed inside the root, so its target's
    // directory (the canary's path, under the root) must exist there.
    await expect(copyToContainer(root, join(host, 'passwd'), '/data/passwd', { archive: false })).rejects.toThrowError(NotFoundError);
    // Copied into /data, the file replaces the symlink named like it.
    await copyToContainer(root, join(host, 'passwd'), '/data', { archive: false });
    expect((await lstat(join(root, 'data', 'passwd'))).isFile()).toBe(true);
    // Once the canary's path exists inside the root, that is where writes go.
    await mkdir(join(root, canary), { recursive: true });
    await copyToContainer(root, join(host, 'passwd'), '/etc/passwd', { archive: false });
    expect(await readFile(join(root, canary, 'passwd'), 'utf8')).toBe('container passwd\n');
    await expectCanaryUntouched();
  });

  it('keeps ".." symlinks inside the root', async () => {
    await symlink('../../../../../../..', join(root, 'data', 'up'));
    await writeFile(join(host, 'f'), 'x');
    await copyToContainer(root, join(host, 'f'), '/data/up/../../escape', { archive: false });
    await copyToContainer(root, join(host, 'f'), '/data/up/escape2', { archive: false });
    expect(await exists(join(root, 'escape'))).toBe(true);
    expect(await exists(join(root, 'escape2'))).toBe(true);
    expect(await exists(join(work, 'escape'))).toBe(false);
    expect(await exists(join(work, 'escape2'))).toBe(false);
  });

  it('extracts a tar stream into a directory, with hostile entries kept in the root', async () => {
    await symlink(canary, join(root, 'data', 'link-to-host'));
    const tar = await buildTar([
      { name: 'dir/', type: 'directory', mode: 0o750, uid: 1000, gid: 1000 },
      { name: 'dir/file', content: 'content', mode: 0o640, uid: 1000, gid: 1000 },
      { name: 'dir/hard', type: 'link', linkname: 'dir/file' },
      { name: 'dir/sym', type: 'symlink', linkname: '/etc/shadow' },
      { name: 'dir/fifo', type: 'fifo', mode: 0o600 },
      { name: 'dir/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666 },
      // Through the container's symlink: inside the root, where the canary's path is created.
      { name: 'link-to-host/secret', content: 'overwritten?' },
      { name: 'esc', type: 'symlink', linkname: canary },
      { name: 'esc/passwd', content: 'overwritten?' },
    ]);
    await copyToContainer(root, Readable.from([tar]), '/data', { archive: true });
    const dir = join(root, 'data', 'dir');
    expect((await stat(dir)).mode & 0o777).toBe(0o750);
    const file = await stat(join(dir, 'file'));
    expect([file.uid, file.gid, file.mode & 0o777, file.nlink]).toEqual([1000, 1000, 0o640, 2]);
    expect(await readlink(join(dir, 'sym'))).toBe('/etc/shadow');
    expect((await lstat(join(dir, 'fifo'))).isFIFO()).toBe(true);
    expect((await lstat(join(dir, 'null'))).isCharacterDevice()).toBe(true);
    expect(await readFile(join(root, canary, 'secret'), 'utf8')).toBe('overwritten?');
    expect(await readFile(join(root, canary, 'passwd'), 'utf8')).toBe('overwritten?');
    await expectCanaryUntouched();
  });

  it('refuses tar entries and hard links that climb out of the destination', async () => {
    const escape = await buildTar([{ name: '../../escape', content: 'x' }]);
    await expect(copyToContainer(root, Readable.from([escape]), '/data', { archive: false })).rejects.toThrowError(InvalidContentError);
    const hard = await buildTar([{ name: 'h', type: 'link', linkname: '../../../canary/secret' }]);
    await expect(copyToContainer(root, Readable.from([hard]), '/data', { archive: false })).rejects.toThrowError(InvalidContentError);
    const absolute = await buildTar([{ name: 'h', type: 'link', linkname: join(canary, 'secret') }]);
    await expect(copyToContainer(root, Readable.from([absolute]), '/data', { archive: false })).rejects.toThrowError(InvalidContentError);
    expect(await exists(join(work, 'escape'))).toBe(false);
    expect(await readdir(join(root, 'data'))).toEqual([]);
    await expectCanaryUntouched();
  });

  it('reports a truncated or corrupt tar stream as invalid content', async () => {
    const tar = await buildTar([{ name: 'big', content: 'x'.repeat(5000) }]);
    await expect(copyToContainer(root, Readable.from([tar.subarray(0, 2048)]), '/data', { archive: false })).rejects.toThrowError(InvalidContentError);
    await expect(copyToContainer(root, Readable.from([Buffer.alloc(1024, 'garbage')]), '/data', { archive: false }))
      .rejects.toThrowError(/Cannot read the tar archive/);
  });

  it('needs a directory for a tar stream, and refuses a directory entry onto a file', async () => {
    await writeFile(join(root, 'data', 'file'), '');
    const tar = await buildTar([{ name: 'file/', type: 'directory' }]);
    await expect(copyToContainer(root, Readable.from([tar]), '/data/file', { archive: false, container: 'web' }))
      .rejects.toThrowError('Cannot copy "-" to "web:/data/file": the destination must be a directory');
    await expect(copyToContainer(root, Readable.from([tar]), '/data', { archive: false })).rejects.toThrowError(InvalidArgumentError);
  });

  it('refuses to write into proc', async () => {
    await symlink('/proc', join(root, 'data', 'p'));
    await mkdir(join(root, 'proc'));
    await writeFile(join(host, 'f'), 'x');
    // Inside the root "/proc" is an empty directory: fine. The host's /proc is never reached.
    await copyToContainer(root, join(host, 'f'), '/data/p', { archive: false });
    expect(await exists(join(root, 'proc', 'f'))).toBe(true);
    await expect(copyToContainer('/proc/self/root', join(host, 'f'), '/proc/self', { archive: false })).rejects.toThrowError(FailedPreconditionError);
  });
});

describe.skipIf(reason)('copyFromContainer', () => {
  beforeEach(async () => {
    await mkdir(join(root, 'data', 'sub'), { recursive: true });
    await writeFile(join(root, 'data', 'a'), 'alpha', { mode: 0o4755 });
    await writeFile(join(root, 'data', 'sub', 'b'), 'beta');
    await symlink(join(canary, 'secret'), join(root, 'data', 'leak'));
    await symlink(canary, join(root, 'etc'));
  });

  it('copies symlinks as symlinks and reads nothing they point at', async () => {
    await copyFromContainer(root, '/data', join(host, 'out'), { followLink: false });
    expect(await readlink(join(host, 'out', 'leak'))).toBe(join(canary, 'secret'));
    expect(await readFile(join(host, 'out', 'sub', 'b'), 'utf8')).toBe('beta');
    // Host files are owned by berth's user and lose setuid (berth runs as root).
    expect((await stat(join(host, 'out', 'a'))).mode & 0o7777).toBe(0o755);
    await copyFromContainer(root, '/etc', join(host, 'etc'), { followLink: false });
    expect(await readlink(join(host, 'etc'))).toBe(canary);
    await expectCanaryUntouched();
  });

  it('resolves -L, "dir/" and paths through symlinks inside the root', async () => {
    await expect(copyFromContainer(root, '/etc/secret', host, { followLink: false })).rejects.toThrowError(NotFoundError);
    await expect(copyFromContainer(root, '/etc/', host, { followLink: false })).rejects.toThrowError(NotFoundError);
    await expect(copyFromContainer(root, '/etc', host, { followLink: true })).rejects.toThrowError(NotFoundError);
    await expect(copyFromContainer(root, '/data/leak', host, { followLink: true })).rejects.toThrowError(NotFoundError);
    await expect(copyFromContainer(root, '/data/../../../canary/secret', host, { followLink: false })).rejects.toThrowError(NotFoundError);
    expect(await readdir(host)).toEqual([]);
    await expectCanaryUntouched();
    // With the canary's path present inside the root, -L reads the container's file there.
    await mkdir(join(root, canary), { recursive: true });
    await writeFile(join(root, canary, 'secret'), 'container secret');
    await copyFromContainer(root, '/data/leak', join(host, 'got'), { followLink: true });
    expect(await readFile(join(host, 'got'), 'utf8')).toBe('container secret');
    await expectCanaryUntouched();
  });

  it('does not let a container symlink in the destination tree redirect the host write', async () => {
    // A previous copy left a symlink to the canary in the host destination; a new copy of a
    // directory with that name must not write through it.
    await mkdir(join(host, 'out'));
    await symlink(canary, join(host, 'out', 'sub'));
    await expect(copyFromContainer(root, '/data/.', join(host, 'out'), { followLink: false })).rejects.toThrowError(InvalidArgumentError);
    await expectCanaryUntouched();
  });

  it('streams a tar archive of a directory\'s contents', async () => {
    const out = new PassThrough();
    const entries: string[] = [];
    const reading = (async () => {
      for await (const entry of out.pipe(extract())) {
        let data = '';
        for await (const chunk of entry) data += String(chunk);
        entries.push(`${entry.header.name} ${entry.header.type} ${entry.header.mode?.toString(8)} ${data}${entry.header.linkname ?? ''}`);
      }
    })();
    await copyFromContainer(root, '/data/.', out, { followLink: false });
    await reading;
    expect(entries).toEqual([
      './ directory 755 ',
      './a file 4755 alpha',
      `./leak symlink 777 ${join(canary, 'secret')}`,
      './sub/ directory 755 ',
      './sub/b file 644 beta',
    ]);
    await expectCanaryUntouched();
  });

  it('round-trips a tar stream, hard links and devices included', async () => {
    await link(join(root, 'data', 'a'), join(root, 'data', 'a2'));
    loadFsx().mknod(join(root, 'data', 'null'), 0o020666, 1, 3);
    const out = new PassThrough();
    const copying = copyFromContainer(root, '/data', out, { followLink: false });
    await mkdir(join(root, 'copy'));
    await copyToContainer(root, out, '/copy', { archive: true });
    await copying;
    expect((await stat(join(root, 'copy', 'data', 'a2'))).ino).toBe((await stat(join(root, 'copy', 'data', 'a'))).ino);
    expect((await stat(join(root, 'copy', 'data', 'null'))).rdev).toBe((await stat('/dev/null')).rdev);
  });
});

/** A process that pivot_root'ed into `dir` in a new mount namespace: `/proc/<pid>/root` is a real container root. */
async function startPivoted(dir: string): Promise<ChildProcess> {
  const script = 'mount --bind "$1" "$1" && cd "$1" && mkdir -p .old && pivot_root . .old && echo ready && read line';
  const child = spawn('unshare', ['-m', '--propagation', 'private', 'sh', '-c', script, 'sh', dir], { stdio: ['pipe', 'pipe', 'inherit'] });
  const [line] = (await once(child.stdout!, 'data')) as [Buffer];
  if (line.toString().trim() !== 'ready') throw new Error(`pivot_root helper said ${line.toString()}`);
  return child;
}

describe.skipIf(reason)('a real container root in another mount namespace', () => {
  it('resolves in the container, where fsx.resolveInRoot\'s string would name a host path', async () => {
    await symlink(canary, join(root, 'etc'));
    await writeFile(join(root, 'data', 'in'), 'inside');
    const child = await startPivoted(root);
    try {
      const procRoot = `/proc/${child.pid}/root`;
      // The hazard: openat2 resolves correctly, but the path it reads back is the container's view.
      expect(loadFsx().resolveInRoot(procRoot, '/data')).toBe('/data');
      await writeFile(join(host, 'f'), 'from host');
      await copyToContainer(procRoot, join(host, 'f'), '/data', { archive: false });
      expect(await readFile(join(root, 'data', 'f'), 'utf8')).toBe('from host');
      await copyFromContainer(procRoot, '/data/in', join(host, 'in'), { followLink: false });
      expect(await readFile(join(host, 'in'), 'utf8')).toBe('inside');
      await expect(copyToContainer(procRoot, join(host, 'f'), '/etc/f', { archive: false })).rejects.toThrowError(NotFoundError);
      await expect(copyFromContainer(procRoot, '/etc/secret', host, { followLink: false })).rejects.toThrowError(NotFoundError);
      await expectCanaryUntouched();
    } finally {
      child.stdin?.end('\n');
      await once(child, 'exit');
    }
  });
});

interface TarSpec {
  readonly name: string;
  readonly type?: 'file' | 'directory' | 'symlink' | 'link' | 'fifo' | 'character-device';
  readonly content?: string;
  readonly linkname?: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly devmajor?: number;
  readonly devminor?: number;
}

async function buildTar(specs: readonly TarSpec[]): Promise<Buffer> {
  const tar = pack();
  const chunks: Buffer[] = [];
  const done = (async () => {
    for await (const chunk of tar) chunks.push(chunk as Buffer);
  })();
  for (const spec of specs) {
    const { content, ...header } = spec;
    await new Promise<void>((resolve, reject) => {
      tar.entry({ type: 'file', mode: 0o644, ...header }, content ?? '', (err) => (err ? reject(err) : resolve()));
    });
  }
  tar.finalize();
  await done;
  return Buffer.concat(chunks);
}
