/**
 * `berth cp` to and from containers that are not running, as `docker cp` allows: berth
 * mounts the container's rootfs with its volumes and bind mounts in a mount namespace of a
 * berth-helper of its own (proto.h PLAN_HOLD) and copies through `/proc/<pid>/root` of that
 * helper. Checked here: copies out (a file, a directory, a tar stream), copies in that the
 * container sees when it is started, copies into a volume landing in the volume, hostile
 * image symlinks that still cannot lead a copy out of the container, a removal in progress,
 * and that nothing is left behind (no mount in any mount namespace, no helper process),
 * even when berth is killed in the middle of a copy. Also: a reader that closes berth's
 * stdout early (`berth cp C:/f - | head -c 10`) stops berth quietly.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { lstat, mkdir, readdir, readFile, readlink, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import Database from 'better-sqlite3';
import { extract } from 'tar-stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthBin } from '../helpers/berth.js';
import { probeImageSpec, setUpContainers, sleep, type ContainerHarness } from '../helpers/containers.js';
import { canaryFiles, makeCanary, pushImage, type Canary } from '../helpers/hostile.js';
import { checkPrerequisites } from '../helpers/require.js';
import { buildTar } from '../helpers/tar.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'bash', 'head', 'runc'] });

/** More `..` than any store path has components: from any rootfs this climbs to the host's /. */
const climb = '../'.repeat(24);

/** What a berth call did, with stdout as bytes (tar streams). */
interface RawResult {
  readonly code: number;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** A tar stream's entries: name to content ('' for directories, `-> target` for symlinks). */
async function untar(data: Buffer): Promise<Map<string, string>> {
  const entries = new Map<string, string>();
  for await (const entry of Readable.from([data]).pipe(extract())) {
    let content = '';
    for await (const chunk of entry) content += String(chunk);
    entries.set(entry.header.name, entry.header.type === 'symlink' ? `-> ${entry.header.linkname ?? ''}` : content);
  }
  return entries;
}

/**
 * The mount table lines of every process that name `id` (a container's mount namespace,
 * or a helper holding its filesystem), as `PID (COMMAND): LINE`; this process's included.
 * `ignore` leaves out lines whose mount point it is.
 */
async function mountTablesNaming(id: string, ignore?: string): Promise<string[]> {
  const found: string[] = [];
  for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
    const table = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
    const lines = table.split('\n').filter((l) => l.includes(id) && l.split(' ')[4] !== ignore);
    if (lines.length === 0) continue;
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
    found.push(`${pid} (${cmdline.split('\0').join(' ').trim()}): ${lines.join(' | ')}`);
  }
  return found;
}

/** The children of `pid` (from /proc/<child>/stat). */
async function childrenOf(pid: number): Promise<number[]> {
  const found: number[] = [];
  for (const p of (await readdir('/proc')).filter((n) => /^\d+$/.test(n))) {
    const stat = await readFile(`/proc/${p}/stat`, 'utf8').catch(() => '');
    // Field 4, after the command in parentheses (which may hold spaces).
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid === pid) found.push(Number(p));
  }
  return found;
}

async function exists(path: string): Promise<boolean> {
  return lstat(path).then(() => true, () => false);
}

describe.skipIf(skip !== undefined)('cp with a container that is not running', () => {
  let h: ContainerHarness;
  const canaries = new Set<Canary>();

  beforeAll(async () => {
    h = await setUpContainers('cp-exited');
  });

  afterAll(async () => {
    for (const canary of canaries) await canary.remove();
    await h?.cleanup();
  });

  /** `berth --root ROOT ARGS…` with `stdin` as its input; stdout as bytes. */
  function berthRaw(args: readonly string[], stdin: Buffer = Buffer.alloc(0)): Promise<RawResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(berthBin, ['--root', h.root, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
      const out: Buffer[] = [];
      let stderr = '';
      child.stdout.on('data', (c: Buffer) => out.push(c));
      child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
      child.on('error', reject);
      child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 0), stdout: Buffer.concat(out), stderr }));
      child.stdin.on('error', () => undefined);
      child.stdin.end(stdin);
    });
  }

  /** `run -d FLAGS IMAGE sh -c SCRIPT`, waited for: an exited container, which must have exited 0. */
  async function exited(flags: readonly string[], script: string, image = h.image): Promise<string> {
    const id = (await h.berthOk(['run', '-d', ...flags, image, 'sh', '-c', script])).stdout.trim();
    expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('0');
    expect((await h.berthOk(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim()).toBe('exited');
    return id;
  }

  /**
   * Nothing holds the container's filesystem any more: no mount table names it (but the
   * host's, with `onHost`: another runtime's rootfs stays mounted there until rm). After a
   * cp that ended normally at once (berth waits for its helper); else within `graceMs`.
   */
  async function expectNothingHeld(id: string, options: { graceMs?: number; onHost?: boolean } = {}): Promise<void> {
    // A holder is chrooted: its overlay shows on "/", never on the rootfs directory.
    const held = (): Promise<string[]> => mountTablesNaming(id, options.onHost === true ? join(h.containerDir(id), 'rootfs') : undefined);
    const deadline = Date.now() + (options.graceMs ?? 0);
    let left = await held();
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(20);
      left = await held();
    }
    expect(left).toEqual([]);
  }

  /**
   * Starts `berth cp - ID:/tmp` with a stdin that stays open, so that berth waits for the
   * tar stream while its helper holds the container's filesystem; resolves with berth and
   * the helper's pid once the helper's mount table shows the container's rootfs.
   */
  async function holdingCopy(id: string): Promise<{ child: ChildProcess; helper: number; closed: Promise<RawResult> }> {
    const child = spawn(berthBin, ['--root', h.root, 'cp', '-', `${id}:/tmp`], { stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdin?.on('error', () => undefined);
    let stderr = '';
    child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.stdout?.resume();
    const closed = new Promise<RawResult>((resolve) => {
      child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 0), stdout: Buffer.alloc(0), stderr }));
    });
    const deadline = Date.now() + 20_000;
    for (;;) {
      for (const pid of await childrenOf(child.pid ?? -1)) {
        const table = await readFile(`/proc/${pid}/mountinfo`, 'utf8').catch(() => '');
        // The overlay's options name the container's upper directory.
        if (table.includes(id)) return { child, helper: pid, closed };
      }
      if (Date.now() >= deadline || child.exitCode !== null) {
        child.kill('SIGKILL');
        throw new Error(`No helper of berth ${child.pid} came to hold ${id}: ${stderr}`);
      }
      await sleep(20);
    }
  }

  it.concurrent('copies a file, a directory and a tar stream out of an exited container, then holds nothing', async ({ expect }) => {
    const id = await exited(['--name', 'cpx-out'], 'mkdir -p /out/sub; echo file > /out/f; echo deep > /out/sub/g; ln -s f /out/link');
    try {
      const host = join(h.work, `out-${id.slice(0, 8)}`);
      await mkdir(host);
      await h.berthOk(['cp', 'cpx-out:/out/f', join(host, 'f')]);
      expect(await readFile(join(host, 'f'), 'utf8')).toBe('file\n');
      await h.berthOk(['cp', 'cpx-out:/out', join(host, 'dir')]);
      expect(await readFile(join(host, 'dir', 'f'), 'utf8')).toBe('file\n');
      expect(await readFile(join(host, 'dir', 'sub', 'g'), 'utf8')).toBe('deep\n');
      expect(await readlink(join(host, 'dir', 'link'))).toBe('f');
      const tar = await berthRaw(['cp', 'cpx-out:/out', '-']);
      expect(tar.code, tar.stderr).toBe(0);
      expect(Object.fromEntries(await untar(tar.stdout))).toEqual({ 'out/': '', 'out/f': 'file\n', 'out/sub/': '', 'out/sub/g': 'deep\n', 'out/link': '-> f' });
      // Its /etc/hostname is the file berth bind-mounts there, as in the running container.
      const hostname = await berthRaw(['cp', 'cpx-out:/etc/hostname', '-']);
      expect(hostname.code, hostname.stderr).toBe(0);
      expect(Object.fromEntries(await untar(hostname.stdout))).toEqual({ hostname: `${id.slice(0, 12)}\n` });
      const missing = await h.berth(['cp', 'cpx-out:/no/such', join(host, 'x')]);
      expect(missing.code).toBe(125);
      expect(missing.stderr).toContain('Could not find the file /no/such in container cpx-out');
      await expectNothingHeld(id);
      expect((await h.berthOk(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim()).toBe('exited');
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('copies into a created-then-stopped container; start sees the files', async ({ expect }) => {
    const id = (await h.berthOk(['create', '--name', 'cpx-in', h.image, 'sh', '-c', 'cat /etc/msg /fromtar/x; ls -ln /etc/msg'])).stdout.trim();
    try {
      await h.berthOk(['stop', 'cpx-in']);
      expect((await h.berthOk(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim()).toBe('exited');
      const file = join(h.work, `msg-${id.slice(0, 8)}`);
      await writeFile(file, 'from the host\n');
      await h.berthOk(['cp', file, 'cpx-in:/etc/msg']);
      const tar = buildTar([{ type: 'dir', path: 'fromtar' }, { type: 'file', path: 'fromtar/x', content: 'from a tar\n', uid: 1000, gid: 1000 }]);
      const streamed = await berthRaw(['cp', '-', 'cpx-in:/'], tar);
      expect(streamed.code, streamed.stderr).toBe(0);
      await expectNothingHeld(id);
      // Written into its writable layer, as the container's root (0:0) without -a.
      expect(await readFile(join(h.containerDir(id), 'upper', 'etc', 'msg'), 'utf8')).toBe('from the host\n');
      await h.berthOk(['start', 'cpx-in']);
      expect((await h.berthOk(['wait', 'cpx-in'])).stdout.trim()).toBe('0');
      const logs = (await h.berthOk(['logs', 'cpx-in'])).stdout;
      expect(logs).toMatch(/^from the host\nfrom a tar\n-rw-r--r-- +1 0 +0 +14 /);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('copies into and out of the volumes and bind mounts of an exited container', async ({ expect }) => {
    const volume = `cpx-vol-${randomBytes(4).toString('hex')}`;
    const bound = join(h.work, `bound-${volume}`);
    const readOnly = join(h.work, `ro-${volume}`);
    await mkdir(bound);
    await mkdir(readOnly);
    await writeFile(join(bound, 'marker'), 'on the host\n');
    await h.berthOk(['volume', 'create', volume]);
    const id = await exited(['-v', `${volume}:/data`, '-v', `${bound}:/bound`, '-v', `${readOnly}:/ro:ro`], 'echo in-volume > /data/old');
    try {
      const file = join(h.work, `f-${volume}`);
      await writeFile(file, 'copied\n');
      await h.berthOk(['cp', file, `${id}:/data/new`]);
      await h.berthOk(['cp', file, `${id}:/bound/new`]);
      const mountpoint = (JSON.parse((await h.berthOk(['volume', 'inspect', volume])).stdout) as { Mountpoint: string }[])[0]?.Mountpoint ?? '';
      expect(await readFile(join(mountpoint, 'new'), 'utf8')).toBe('copied\n');
      expect(await readFile(join(bound, 'new'), 'utf8')).toBe('copied\n');
      // Not in the writable layer, where a copy through the bare rootfs would have put it.
      expect(await exists(join(h.containerDir(id), 'upper', 'data', 'new'))).toBe(false);
      expect(await exists(join(h.containerDir(id), 'upper', 'bound', 'new'))).toBe(false);
      await h.berthOk(['cp', `${id}:/data/old`, join(h.work, `old-${volume}`)]);
      expect(await readFile(join(h.work, `old-${volume}`), 'utf8')).toBe('in-volume\n');
      await h.berthOk(['cp', `${id}:/bound/marker`, join(h.work, `marker-${volume}`)]);
      expect(await readFile(join(h.work, `marker-${volume}`), 'utf8')).toBe('on the host\n');
      const refused = await h.berth(['cp', file, `${id}:/ro/new`]);
      expect(refused.code).toBe(125);
      expect(refused.stderr).toContain('read-only');
      expect(await readdir(readOnly)).toEqual([]);
      await expectNothingHeld(id);
      // Another container sees the file in the volume.
      expect((await h.berthOk(['run', '--rm', '-v', `${volume}:/v`, h.image, 'cat', '/v/new'])).stdout).toBe('copied\n');
    } finally {
      await h.removeQuietly(id);
      await h.berth(['volume', 'rm', volume]);
    }
  });

  it.concurrent('--read-only: a copy into the rootfs is refused, into a volume it works', async ({ expect }) => {
    const volume = `cpx-rovol-${randomBytes(4).toString('hex')}`;
    const id = await exited(['--read-only', '-v', `${volume}:/data`], 'true');
    try {
      const file = join(h.work, `f-${volume}`);
      await writeFile(file, 'copied\n');
      const refused = await h.berth(['cp', file, `${id}:/etc/new`]);
      expect(refused.code).toBe(125);
      expect(refused.stderr).toContain('read-only');
      expect(await exists(join(h.containerDir(id), 'upper', 'etc', 'new'))).toBe(false);
      await h.berthOk(['cp', file, `${id}:/data/new`]);
      expect((await h.berthOk(['run', '--rm', '-v', `${volume}:/v`, h.image, 'cat', '/v/new'])).stdout).toBe('copied\n');
      await expectNothingHeld(id);
    } finally {
      await h.removeQuietly(id);
      await h.berth(['volume', 'rm', volume]);
    }
  });

  it.concurrent('copies in and out of an exited container of another runtime (runc)', async ({ expect }) => {
    const id = await exited(['--runtime', 'runc'], 'echo by-runc > /made');
    try {
      const out = join(h.work, `runc-${id.slice(0, 8)}`);
      await h.berthOk(['cp', `${id}:/made`, out]);
      expect(await readFile(out, 'utf8')).toBe('by-runc\n');
      await h.berthOk(['cp', out, `${id}:/back`]);
      expect(await readFile(join(h.containerDir(id), 'upper', 'back'), 'utf8')).toBe('by-runc\n');
      await expectNothingHeld(id, { onHost: true });
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('says why when the filesystem cannot be mounted: a bind source that is gone', async ({ expect }) => {
    const bound = join(h.work, `gone-${randomBytes(4).toString('hex')}`);
    await mkdir(bound);
    const id = await exited(['--name', `cpx-gone-${randomBytes(4).toString('hex')}`, '-v', `${bound}:/bound`], 'true');
    try {
      await rm(bound, { recursive: true });
      const result = await h.berth(['cp', `${id}:/etc/hostname`, join(h.work, `never-${id.slice(0, 8)}`)]);
      expect(result.code).toBe(125);
      expect(result.stderr).toContain(`Error: Cannot copy "/etc/hostname" from container "cpx-gone-`);
      expect(result.stderr).toContain(`: cannot mount its filesystem: bind mount source \`${bound}\`: No such file or directory`);
      await expectNothingHeld(id);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('hostile image symlinks lead no copy out of an exited container', async ({ expect }) => {
    const canary = await makeCanary();
    canaries.add(canary);
    const c = canary.dir;
    const base = await probeImageSpec(await readFile(join(h.work, 'probe')));
    // Each link names a host path of the canary; inside the container each leads to that
    // path in its own rootfs, where the volume on /data is mounted at <canary>/keep.
    const image = await pushImage(h, `cpx-hostile-${randomBytes(4).toString('hex')}`, {
      ...base,
      layers: [...base.layers, {
        createdBy: 'symlinks to the host canary',
        entries: [
          // The targets are in the image too: where they are not, berth's create refuses a
          // mount through such a link (containers-hostile.test.ts).
          { type: 'dir', path: c.slice(1) },
          { type: 'dir', path: `${c.slice(1)}/keep` },
          { type: 'file', path: `${c.slice(1)}/hostname`, content: 'image\n' },
          { type: 'symlink', path: 'data', target: `${c}/keep` },
          { type: 'symlink', path: 'up', target: `${climb}${c.slice(1)}` },
          { type: 'symlink', path: 'secret', target: `${c}/keep/file` },
          { type: 'symlink', path: 'etc/hostname', target: `${c}/hostname` },
        ],
      }],
    });
    const volume = join(h.work, `hostile-volume-${randomBytes(4).toString('hex')}`);
    await mkdir(volume);
    const id = (await h.berthOk(['run', '-d', '-v', `${volume}:/data`, image, 'true'])).stdout.trim();
    try {
      expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('0');
      const file = join(h.work, `f-${id.slice(0, 8)}`);
      await writeFile(file, 'copied\n');
      await h.berthOk(['cp', file, `${id}:/data/new`]);
      expect(await readFile(join(volume, 'new'), 'utf8')).toBe('copied\n');
      // /up climbs out of any directory on the host, but stops at the container's root.
      await h.berthOk(['cp', file, `${id}:/up/new`]);
      expect(await readFile(join(h.containerDir(id), 'upper', c.slice(1), 'new'), 'utf8')).toBe('copied\n');
      // -L follows /secret inside the container, where the volume has no such file (the
      // canary has); without -L the link itself is copied.
      const followed = await h.berth(['cp', '-L', `${id}:/secret`, join(h.work, `secret-${id.slice(0, 8)}`)]);
      expect(followed.code, followed.stderr).toBe(125);
      expect(followed.stderr).toContain('Could not find the file /secret');
      const link = await berthRaw(['cp', `${id}:/secret`, '-']);
      expect(link.code, link.stderr).toBe(0);
      expect(Object.fromEntries(await untar(link.stdout))).toEqual({ secret: `-> ${c}/keep/file` });
      // A copy onto /secret writes where the link leads inside the container: into the volume.
      await h.berthOk(['cp', file, `${id}:/secret`]);
      expect(await readFile(join(volume, 'file'), 'utf8')).toBe('copied\n');
      // /etc/hostname: berth's file, bind-mounted where the link leads inside the rootfs.
      const hostname = await berthRaw(['cp', '-L', `${id}:/etc/hostname`, '-']);
      expect(hostname.code, hostname.stderr).toBe(0);
      expect(Object.fromEntries(await untar(hostname.stdout))).toEqual({ hostname: `${id.slice(0, 12)}\n` });
      expect(await readFile(join(c, 'keep', 'file'), 'utf8')).toBe(canaryFiles['keep/file']);
      expect(await canary.problems()).toEqual([]);
      await expectNothingHeld(id);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('a berth killed during a copy leaves no mount and no helper behind', async ({ expect }) => {
    const id = await exited([], 'true');
    try {
      const { child, helper, closed } = await holdingCopy(id);
      expect(await readlink(`/proc/${helper}/exe`)).toMatch(/^\/memfd:berth-helper/);
      // Only the helper's own mount namespace has the container's rootfs.
      expect((await mountTablesNaming(id)).map((line) => Number(line.split(' ')[0]))).toEqual([helper]);
      expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(id);
      child.kill('SIGKILL');
      await closed;
      const deadline = Date.now() + 5000;
      while (existsSync(`/proc/${helper}`) && Date.now() < deadline) await sleep(20);
      expect(existsSync(`/proc/${helper}`)).toBe(false);
      await expectNothingHeld(id);
      // The container is as it was: a copy and a start work.
      await h.berthOk(['cp', `${id}:/etc/hostname`, join(h.work, `hostname-${id.slice(0, 8)}`)]);
      await h.berthOk(['start', id]);
      expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('0');
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('rm during a copy ends the hold; a container being removed is refused', async ({ expect }) => {
    const id = await exited([], 'true');
    const { child, helper, closed } = await holdingCopy(id);
    try {
      // rm kills what is left in the container's cgroup: the helper holding its files.
      await h.berthOk(['rm', id]);
      const deadline = Date.now() + 5000;
      while (existsSync(`/proc/${helper}`) && Date.now() < deadline) await sleep(20);
      expect(existsSync(`/proc/${helper}`)).toBe(false);
      expect(existsSync(h.containerDir(id))).toBe(false);
      child.stdin?.end();
      await closed;
      await expectNothingHeld(id);
    } finally {
      child.kill('SIGKILL');
      await h.removeQuietly(id);
    }
    // A removal that a crashed berth left half done: the record says "removing".
    const half = await exited([], 'true');
    try {
      const db = new Database(join(h.root, 'berth.db'));
      try {
        db.prepare("UPDATE containers SET state = 'removing' WHERE id = ?").run(half);
      } finally {
        db.close();
      }
      for (const args of [['cp', `${half}:/etc/hostname`, join(h.work, 'never')], ['cp', join(h.work, 'probe'), `${half}:/tmp/`]]) {
        const refused = await h.berth(args);
        expect(refused.code, refused.stderr).toBe(125);
        expect(refused.stderr).toMatch(/^Error: Cannot copy "[^"]+" (from container "|to ").*: it is being removed\n/);
      }
      await expectNothingHeld(half);
    } finally {
      await h.removeQuietly(half);
    }
  });

  it.concurrent('stops quietly when the reader of its standard output goes away (cp ... - | head -c 10)', async ({ expect }) => {
    const id = await exited([], 'head -c 4194304 /dev/zero > /big');
    const pipe = async (container: string, path: string): Promise<{ status: string; stderr: string }> => {
      const script = `"$0" --root "$1" cp "$2" - 2>"$3" | head -c 10 >/dev/null; echo "\${PIPESTATUS[0]}"`;
      const errFile = join(h.work, `err-${randomBytes(4).toString('hex')}`);
      const result = await new Promise<string>((resolve, reject) => {
        const child = spawn('bash', ['-c', script, berthBin, h.root, `${container}:${path}`, errFile], { stdio: ['ignore', 'pipe', 'inherit'] });
        let out = '';
        child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
        child.on('error', reject);
        child.on('close', () => resolve(out.trim()));
      });
      return { status: result, stderr: await readFile(errFile, 'utf8') };
    };
    try {
      // 4 MiB: far more than a pipe holds, so berth is still writing when head exits.
      const big = await pipe(id, '/big');
      expect(big.stderr).toBe('');
      expect(big.status).toBe('141');
      // berth stopped without waiting for its helper, which ends as berth's pipe closes.
      await expectNothingHeld(id, { graceMs: 5000 });
      await h.withContainer([], ['sleep', '60'], async (running) => {
        const small = await pipe(running, '/etc/hostname');
        expect(small.stderr).toBe('');
        expect(['0', '141']).toContain(small.status);
      });
    } finally {
      await h.removeQuietly(id);
    }
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
