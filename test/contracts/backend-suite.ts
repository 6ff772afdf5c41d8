/**
 * The Backend contract (common/backend.ts), in the shape of containerd's
 * core/content/testsuite/testsuite.go: {@link backendContract} takes a factory and registers
 * the same tests for every implementation, which calls it from a test file of its own
 * (berth-backend.test.ts, runc-backend.test.ts; the VM backend next).
 *
 * The tests drive the Backend directly, as runtime/ops/*.ts do, with real processes: a
 * container from a real unpacked image layer (the busybox fixture, unpacked by berth's
 * unpacker into a store of the suite's own, its writable layer from the Snapshotter), a
 * spec from buildSpec with a network namespace of its own and none joined (`--network
 * none`), stdio to a json-file log in the container's directory, and a cgroup parent of
 * this run's own (`/berth-contract-<pid>-<random>`) that afterAll removes, after failures
 * too. The suite touches no cgroup it did not create and signals no process outside them.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Backend, CreateTaskRequest, TaskRef } from '../../common/backend.js';
import { StateLayout } from '../../common/paths.js';
import { processStartTime, sameProcess } from '../../common/process.js';
import { Snapshotter, type SnapshotLayer } from '../../image/index.js';
import { unpackLayer } from '../../image/unpack/index.js';
import type { LinuxNamespaceType, RuntimeSpec } from '../../oci/index.js';
import { buildSpec, resolveUser, type CgroupProvider } from '../../runtime/index.js';
import { makeTempDir, removeDir, run } from '../helpers/exec.js';
import { busyboxImage } from '../helpers/fixtures.js';
import { sha256Digest } from '../helpers/oci-layout.js';
import { buildTar } from '../helpers/tar.js';

/** What an implementation gives the suite; made once per file, in beforeAll. */
export interface Harness {
  /** The backend under test. */
  readonly backend: Backend;
  /** The cgroups the backend was built with: the suite reads each task's cgroup back through it. */
  readonly cgroups: CgroupProvider;
  /**
   * What the backend still holds of a task after delete, beyond its cgroup and a mount on
   * its rootfs path, which the suite checks itself (another runtime's state: `runc state`);
   * one line per problem, none when all is released.
   */
  leftovers(task: TaskRef): Promise<string[]>;
  /** Releases what the factory made (a runtime's state root); afterAll calls it, after failures too. */
  close(): Promise<void>;
}

/** Docker's namespaces for `--network none`: a network namespace of its own, none joined. */
const containerNamespaces: readonly LinuxNamespaceType[] = ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'];
/**
 * The same without a pid namespace (`--pid host`): where a test needs its first process to
 * die of a signal it has no handler for (PID 1 of a namespace ignores those, pid_namespaces(7)),
 * or processes that outlive the first (when PID 1 of a namespace dies, the kernel kills the rest,
 * so a backend that signalled the first process alone would pass).
 */
const hostPidNamespaces: readonly LinuxNamespaceType[] = ['network', 'ipc', 'uts', 'mount', 'cgroup'];

/** The longest a test waits for a process to do what it was asked. */
const settleMs = 10_000;

/** Polls `check` until it returns true, or fails with `what` after {@link settleMs}. */
async function until(what: string, check: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + settleMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`Timed out waiting for ${what}`);
    await sleep(delay);
  }
}

/** Mount points of /proc/self/mountinfo with their filesystem type (proc_pid_mountinfo(5)). */
function hostMounts(): { mountPoint: string; root: string; fstype: string }[] {
  const unescape = (s: string): string => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l !== '').map((line) => {
    const [left = '', right = ''] = line.split(' - ');
    const f = left.split(' ');
    return { root: unescape(f[3] ?? ''), mountPoint: unescape(f[4] ?? ''), fstype: right.split(' ')[0] ?? '' };
  });
}

/** Every cgroup hierarchy this host mounts at its root, whoever uses it (runc also joins name=systemd). */
function cgroupMounts(): string[] {
  return [...new Set(hostMounts().filter((m) => (m.fstype === 'cgroup' || m.fstype === 'cgroup2') && m.root === '/').map((m) => m.mountPoint))];
}

/** A created task and what the suite made for it. */
interface Made {
  readonly request: CreateTaskRequest;
  readonly task: TaskRef;
  /** The writable layer: what the container writes to its root shows up here on the host. */
  readonly upper: string;
}

/** Registers the Backend contract for the backend that `make` builds. */
export function backendContract(name: string, make: () => Promise<Harness>): void {
  describe(`Backend contract: ${name}`, () => {
    const parent = `/berth-contract-${process.pid}-${randomBytes(4).toString('hex')}`;
    let h: Harness | undefined;
    let tmp: string | undefined;
    let layout: StateLayout;
    let snapshots: Snapshotter;
    let layer: SnapshotLayer;
    let passwd: string;
    let group: string;
    /** Tasks of the current test, deleted by afterEach. */
    let current: TaskRef[] = [];
    /** Every id the suite used, for afterAll's sweep of the cgroups. */
    const ids = new Set<string>();

    const harness = (): Harness => {
      if (h === undefined) throw new Error('The harness was not made');
      return h;
    };

    beforeAll(async () => {
      tmp = await makeTempDir('contract');
      layout = new StateLayout(join(tmp, 'store'), join(tmp, 'run'));
      snapshots = new Snapshotter(layout);
      // The busybox fixture's one layer, unpacked as a pull unpacks it, is the image.
      const spec = await busyboxImage();
      const entries = spec.layers[0]?.entries ?? [];
      const tar = buildTar(entries);
      layer = { diffId: sha256Digest(tar) };
      const diff = layout.layerDiffDir(layer.diffId);
      await mkdir(diff, { recursive: true });
      await unpackLayer(Readable.from([tar]), diff);
      [passwd, group] = await Promise.all([readFile(join(diff, 'etc/passwd'), 'utf8'), readFile(join(diff, 'etc/group'), 'utf8')]);
      await mkdir(layout.containersDir(), { recursive: true });
      h = await make();
    });

    afterEach(async () => {
      const tasks = current;
      current = [];
      const problems: string[] = [];
      for (const task of tasks) {
        await harness().backend.delete(task).catch((err: unknown) => problems.push(`delete ${task.id}: ${String(err)}`));
      }
      if (problems.length > 0) throw new Error(problems.join('\n'));
    });

    // After failures too: what a failed test left in this run's cgroups is killed, the
    // cgroups and the parent removed, the rootfs mounts under the temp dir unmounted.
    afterAll(async () => {
      const problems: string[] = [];
      const note = (err: unknown): void => {
        problems.push(String(err));
      };
      if (h !== undefined) {
        for (const id of ids) await h.backend.delete(taskRef(id)).catch(note);
      }
      for (const mount of cgroupMounts()) {
        const top = join(mount, parent);
        if (!existsSync(top)) continue;
        for (const entry of await readdir(top, { withFileTypes: true })) {
          if (!entry.isDirectory()) continue;
          const leaf = join(top, entry.name);
          const pids = (await readFile(join(leaf, 'cgroup.procs'), 'utf8').catch(() => '')).split('\n').filter((p) => p !== '');
          for (const pid of pids) {
            try {
              process.kill(Number(pid), 'SIGKILL');
            } catch {
              // gone meanwhile
            }
          }
          if (pids.length > 0) problems.push(`processes ${pids.join(', ')} were left in "${leaf}"`);
          await until(`"${leaf}" to empty`, async () => (await readFile(join(leaf, 'cgroup.procs'), 'utf8').catch(() => '')) === '').catch(note);
          await rmdir(leaf).catch(note);
        }
        await rmdir(top).catch(note);
      }
      if (tmp !== undefined) {
        for (const m of hostMounts().filter((x) => x.mountPoint.startsWith(`${tmp}/`)).reverse()) {
          problems.push(`"${m.mountPoint}" was left mounted`);
          await run('umount', [m.mountPoint]).catch(note);
        }
      }
      await h?.close().catch(note);
      if (tmp !== undefined) await removeDir(tmp).catch(note);
      if (problems.length > 0) throw new Error(`Cleaning up after the contract of ${name}:\n${problems.join('\n')}`);
    });

    function taskRef(id: string, created?: { pid: number; monitorPid: number }): TaskRef {
      const pid = created?.pid ?? 0;
      return {
        id, dir: layout.containerDir(id), pid, pidStart: pid === 0 ? '' : (processStartTime(pid) ?? ''),
        monitorPid: created?.monitorPid ?? 0, cgroupParent: parent,
      };
    }

    /**
     * What runtime/ops/create.ts prepares before launch: the container's directory with
     * rootfs/, its writable layer, config.json. Nothing is created in the backend.
     */
    async function prepare(args: readonly string[], namespaces: readonly LinuxNamespaceType[]): Promise<CreateTaskRequest> {
      const id = randomBytes(32).toString('hex');
      ids.add(id);
      const dir = layout.containerDir(id);
      await mkdir(join(dir, 'rootfs'), { recursive: true });
      const rootfs = snapshots.prepare(id, [layer]);
      const spec = buildSpec({
        rootfs: join(dir, 'rootfs'), command: args, user: resolveUser('0', passwd, group), hostname: id.slice(0, 12),
        cgroupsPath: await harness().cgroups.cgroupsPath(id, parent), namespaces,
      });
      await writeFile(join(dir, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`);
      return {
        id, dir, spec, rootfsPath: join(dir, 'rootfs'), rootfs: [rootfs], cgroupParent: parent,
        stdio: { logPath: join(dir, `${id}-json.log`), logMaxSize: 1024 * 1024, logMaxFiles: 1, tty: false, stdin: false },
        again: false, init: false, holdPorts: [], exitCommand: undefined,
      };
    }

    /** Prepares and creates a task; afterEach deletes it. */
    async function create(args: readonly string[], namespaces = containerNamespaces): Promise<Made> {
      const request = await prepare(args, namespaces);
      // Registered before create: a create that fails half way is deleted too.
      current.push(taskRef(request.id));
      const created = await harness().backend.create(request);
      const task = taskRef(request.id, created);
      current = [...current.filter((t) => t.id !== task.id), task];
      const upper = request.rootfs[0]?.upper;
      if (upper === undefined) throw new Error('The snapshot has no upper directory');
      return { request, task, upper };
    }

    /** Creates and starts a task. */
    async function start(args: readonly string[], namespaces = containerNamespaces): Promise<Made> {
      const made = await create(args, namespaces);
      await harness().backend.start(made.task);
      return made;
    }

    /** The task's leaf directories under this run's parent that exist, in every hierarchy. */
    function leaves(id: string): string[] {
      return cgroupMounts().map((m) => join(m, parent, id)).filter((d) => existsSync(d));
    }

    /** Mounts on `path` in this mount namespace. */
    function mountedOn(path: string): string[] {
      return hostMounts().filter((m) => m.mountPoint === path).map((m) => `${m.fstype} on ${m.mountPoint}`);
    }

    /** A controller's file in the task's leaf: v1's hierarchy `v1` (e.g. memory), else cgroup2's. */
    async function controlFile(task: TaskRef, v1: string, v1File: string, v2File: string): Promise<string> {
      const { paths } = await harness().cgroups.attach(task.id, parent);
      const v1Dir = paths[v1];
      if (v1Dir !== undefined) return join(v1Dir, v1File);
      const unified = paths['unified'];
      if (unified === undefined) throw new Error(`The task's cgroup has neither a ${v1} hierarchy nor cgroup2: ${JSON.stringify(paths)}`);
      return join(unified, v2File);
    }

    /** A file the container wrote to its root, read from its writable layer; undefined while absent. */
    function written(made: Made, file: string): string | undefined {
      try {
        return readFileSync(join(made.upper, file), 'utf8');
      } catch {
        return undefined;
      }
    }

    /** Everything the backend made for `task` is gone: cgroups, mounts, its own state. */
    async function expectReleased(made: { task: TaskRef; rootfsPath: string }): Promise<void> {
      expect(leaves(made.task.id)).toEqual([]);
      expect(mountedOn(made.rootfsPath)).toEqual([]);
      expect(await harness().leftovers(made.task)).toEqual([]);
    }

    it('create leaves the first process waiting, and start runs the command', async () => {
      const made = await create(['sh', '-c', 'touch /started; exec sleep 1000']);
      const { task } = made;
      expect(task.pid).toBeGreaterThan(0);
      expect(sameProcess(task.pid, task.pidStart)).toBe(true);
      expect(leaves(task.id)).not.toEqual([]);
      // Long enough for a command that was not held back to have touched the file.
      await sleep(300);
      expect(written(made, 'started')).toBeUndefined();
      expect(sameProcess(task.pid, task.pidStart)).toBe(true);
      await harness().backend.start(task);
      await until('the command to touch /started', () => written(made, 'started') !== undefined);
      expect(sameProcess(task.pid, task.pidStart)).toBe(true);
    });

    it('wait() gives the exit code of the command, and its output is in the log', async () => {
      const made = await start(['sh', '-c', 'echo to-stdout; echo to-stderr >&2; exit 7']);
      const exit = await harness().backend.wait(made.task);
      expect(exit).toMatchObject({ exitCode: 7, signal: 0, oomKilled: false });
      expect(Number.isNaN(Date.parse(exit.finishedAt))).toBe(false);
      const log = (await readFile(made.request.stdio.logPath, 'utf8')).split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as { log: string; stream: string });
      expect(log.map(({ log: text, stream }) => ({ log: text, stream }))).toEqual(expect.arrayContaining([
        { log: 'to-stdout\n', stream: 'stdout' },
        { log: 'to-stderr\n', stream: 'stderr' },
      ]));
    });

    it('kill(15) of a command without a handler gives 128+15', async () => {
      const made = await start(['sleep', '1000'], hostPidNamespaces);
      await harness().backend.kill(made.task, 15);
      expect(await harness().backend.wait(made.task)).toMatchObject({ exitCode: 143, signal: 15 });
      expect(sameProcess(made.task.pid, made.task.pidStart)).toBe(false);
    });

    it('kill(9) kills every process of the task, a forked background child too', async () => {
      const made = await start(['sh', '-c', 'sleep 1000 & echo $! > /child.tmp; mv /child.tmp /child; wait'], hostPidNamespaces);
      const { task } = made;
      await until('the child to be forked', () => written(made, 'child') !== undefined);
      const child = Number(written(made, 'child'));
      const childStart = processStartTime(child) ?? '';
      expect(sameProcess(child, childStart)).toBe(true);
      expect(await (await harness().cgroups.attach(task.id, parent)).pids()).toEqual(expect.arrayContaining([task.pid, child]));
      await harness().backend.kill(task, 9);
      expect(await harness().backend.wait(task)).toMatchObject({ exitCode: 137, signal: 9 });
      await until('both processes to be gone', () => !sameProcess(task.pid, task.pidStart) && !sameProcess(child, childStart));
    });

    it('exec runs a process in the task\'s namespaces and root, and gives its exit status', async () => {
      const made = await start(['sleep', '1000']);
      const { task, request } = made;
      const base = request.spec.process;
      if (base === undefined) throw new Error('The spec has no process');
      const kinds = ['mnt', 'pid', 'uts', 'ipc', 'net', 'cgroup'];
      const script = `hostname > /exec.tmp; cat /proc/1/cmdline >> /exec.tmp; echo >> /exec.tmp; for n in ${kinds.join(' ')}; do readlink /proc/self/ns/$n >> /exec.tmp; done; mv /exec.tmp /exec.out`;
      const namespaces = (request.spec.linux?.namespaces ?? []).map((n) => n.type);
      const exec = (args: string[]) => harness().backend.exec(task, { ...base, args }, { namespaces, stdio: { stdin: false, detach: false } });
      const probe = await exec(['sh', '-c', script]);
      expect(probe.pid).toBeGreaterThan(0);
      expect(await probe.status).toBe(0);
      const lines = (written(made, 'exec.out') ?? '').split('\n');
      expect(lines[0]).toBe(request.spec.hostname);
      expect(lines[1]).toBe('sleep\u00001000\u0000');
      expect(lines.slice(2, 2 + kinds.length)).toEqual(kinds.map((n) => readlinkSync(`/proc/${task.pid}/ns/${n}`)));
      // Not the host's: the comparison above could not pass by accident.
      expect(readlinkSync(`/proc/${task.pid}/ns/mnt`)).not.toBe(readlinkSync('/proc/self/ns/mnt'));
      expect(await (await exec(['sh', '-c', 'exit 3'])).status).toBe(3);
    });

    it('pause freezes every process of the task and resume thaws them', async () => {
      const made = await start(['sh', '-c', 'i=0; while :; do i=$((i+1)); echo $i > /count.tmp; mv /count.tmp /count; usleep 10000; done']);
      const { task } = made;
      const count = (): number => Number(written(made, 'count') ?? '0');
      await until('the counter to run', () => count() > 2);
      const state = await controlFile(task, 'freezer', 'freezer.state', 'cgroup.freeze');
      await harness().backend.pause(task);
      expect((await readFile(state, 'utf8')).trim()).toMatch(/^(FROZEN|1)$/);
      const frozen = count();
      await sleep(300);
      expect(count()).toBe(frozen);
      await harness().backend.resume(task);
      expect((await readFile(state, 'utf8')).trim()).toMatch(/^(THAWED|0)$/);
      await until('the counter to run again', () => count() > frozen);
    });

    it('update writes a new memory limit to the task\'s cgroup', async () => {
      const { task } = await start(['sleep', '1000']);
      const file = await controlFile(task, 'memory', 'memory.limit_in_bytes', 'memory.max');
      const limit = 64 * 1024 * 1024;
      expect(Number((await readFile(file, 'utf8')).trim())).not.toBe(limit);
      const warnings = await harness().backend.update(task, { memory: { limit } });
      expect(warnings).toEqual([]);
      expect(Number((await readFile(file, 'utf8')).trim())).toBe(limit);
    });

    it('stats counts the task\'s processes and memory', async () => {
      const { task } = await start(['sleep', '1000']);
      const stats = await harness().backend.stats(task);
      expect(stats.pids).toBeGreaterThanOrEqual(1);
      expect(stats.memoryUsage).toBeGreaterThan(0);
      expect(stats.read).toBeGreaterThan(0);
    });

    it('delete after exit releases everything, and again is fine', async () => {
      const made = await start(['true']);
      const { task, request } = made;
      expect(await harness().backend.wait(task)).toMatchObject({ exitCode: 0 });
      expect(leaves(task.id)).not.toEqual([]);
      await harness().backend.delete(task);
      await expectReleased({ task, rootfsPath: request.rootfsPath });
      await harness().backend.delete(task);
      await expectReleased({ task, rootfsPath: request.rootfsPath });
    });

    it('delete of a running task kills its processes and releases everything', async () => {
      const { task, request } = await start(['sleep', '1000']);
      expect(sameProcess(task.pid, task.pidStart)).toBe(true);
      await harness().backend.delete(task);
      await until('the first process to be gone', () => !sameProcess(task.pid, task.pidStart));
      await expectReleased({ task, rootfsPath: request.rootfsPath });
    });

    it('delete of a task whose create never happened (pid 0) is fine', async () => {
      // As runtime/ops/create.ts leaves it when launch fails before the backend made anything.
      const request = await prepare(['true'], containerNamespaces);
      const task = taskRef(request.id);
      await harness().backend.delete(task);
      await expectReleased({ task, rootfsPath: request.rootfsPath });
      // And one whose directory was never made.
      const none = taskRef(randomBytes(32).toString('hex'));
      await harness().backend.delete(none);
      await expectReleased({ task: none, rootfsPath: join(none.dir, 'rootfs') });
    });
  });
}
