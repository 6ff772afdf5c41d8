/**
 * Host state the start benchmark causes outside its work dir, and how it undoes it: cgroup
 * directories (podman's and docker's `--cgroup-parent`, left-over runtime leaves), a private
 * network namespace for the engines' default (bridge) networks, host directories tools create
 * on first use, and reading a process's memory from /proc.
 */
import { readdir, readFile, rm, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { check, exists, runCommand } from './proc.js';

/** Mount points of the cgroup hierarchies (v1 controllers and the v2 one), from mountinfo. */
export async function cgroupMounts(): Promise<{ readonly point: string; readonly fstype: string }[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out: { point: string; fstype: string }[] = [];
  for (const line of text.split('\n')) {
    // proc(5): mount point is field 5; the file system type follows the " - " separator.
    const [left, right] = line.split(' - ');
    const point = left?.split(' ')[4];
    const fstype = right?.split(' ')[0];
    if (point === undefined || (fstype !== 'cgroup' && fstype !== 'cgroup2')) continue;
    out.push({ point: point.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8))), fstype });
  }
  return out;
}

/** The v2 hierarchy's mount point when the host runs in hybrid mode (v1 controllers beside it). */
export async function hybridUnifiedMount(): Promise<string | undefined> {
  const mounts = await cgroupMounts();
  const v2 = mounts.find((m) => m.fstype === 'cgroup2');
  return v2 !== undefined && mounts.some((m) => m.fstype === 'cgroup') ? v2.point : undefined;
}

/**
 * Removes the cgroup `relPath` (e.g. `berth-bench-123-podman`) and every cgroup below it in
 * every hierarchy, deepest first. Cgroup directories go with rmdir only, once empty of tasks.
 * Returns the directories that could not be removed (still busy).
 */
export async function removeCgroupTree(relPath: string): Promise<string[]> {
  if (relPath === '' || relPath.split('/').some((p) => p === '..' || p === '.')) throw new Error(`Not a cgroup path: "${relPath}"`);
  const busy: string[] = [];
  for (const { point } of await cgroupMounts()) {
    const top = join(point, relPath);
    if (!(await exists(top))) continue;
    for (const dir of (await subdirs(top)).sort((a, b) => b.length - a.length)) {
      await rmdir(dir).catch(() => busy.push(dir));
    }
  }
  return busy;
}

/** `dir` and every directory below it. */
async function subdirs(dir: string): Promise<string[]> {
  const out = [dir];
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) if (e.isDirectory()) out.push(...(await subdirs(join(dir, e.name))));
  return out;
}

/**
 * Host paths a tool creates on first use (`/run/runc`, `/var/lib/cni`, `/run/netns`): noted
 * before the harness uses the tool, removed at the end only when they did not exist before.
 */
export class CreatedPaths {
  readonly #absent = new Set<string>();

  /** Notes which of `paths` are absent now. */
  async note(...paths: string[]): Promise<void> {
    for (const p of paths) if (!(await exists(p))) this.#absent.add(p);
  }

  /**
   * Removes the noted paths that exist now: a mount point is unmounted first; `emptyOnly`
   * paths are removed only when empty (another user may have started to use them).
   */
  async remove(path: string, how: { readonly emptyOnly: boolean }): Promise<void> {
    if (!this.#absent.has(path) || !(await exists(path))) return;
    const mounted = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').some((l) => l.split(' ')[4] === path);
    if (mounted) await check({ file: 'umount', args: [path] });
    if (how.emptyOnly) await rmdir(path).catch(() => undefined);
    else await rm(path, { recursive: true, force: true });
  }
}

/**
 * A named network namespace (`ip netns add`), where podman's CNI bridge, its iptables rules and
 * sysctls go instead of the host's. Lifecycle: `create`, commands through `wrap`, `remove`.
 */
export class PrivateNetns {
  readonly name: string;
  readonly #paths = new CreatedPaths();
  #created = false;

  constructor(name: string) {
    this.name = name;
  }

  async create(): Promise<void> {
    // CNI keeps IP allocations in /var/lib/cni (on the host's file system whatever the netns).
    await this.#paths.note('/run/netns', '/var/lib/cni');
    await check({ file: 'ip', args: ['netns', 'add', this.name] });
    this.#created = true;
  }

  /** `file args` run in the namespace; only the network namespace changes (nsenter). */
  wrap(file: string, args: readonly string[]): { file: string; args: string[] } {
    return { file: 'nsenter', args: [`--net=/run/netns/${this.name}`, '--', file, ...args] };
  }

  async remove(): Promise<void> {
    if (this.#created) {
      const del = await runCommand({ file: 'ip', args: ['netns', 'del', this.name] });
      if (del.code !== 0) throw new Error(`ip netns del ${this.name} failed: ${del.stderr.trim()}`);
      this.#created = false;
    }
    // ip netns makes /run/netns a shared bind mount of itself the first time.
    await this.#paths.remove('/run/netns', { emptyOnly: true });
    await this.#paths.remove('/var/lib/cni', { emptyOnly: false });
  }
}

/** Resident memory of a process from /proc/PID/status, in kB (KiB, as the kernel writes it). */
export interface Rss {
  readonly pid: number;
  readonly rssKb: number;
  readonly anonKb: number;
  readonly fileKb: number;
}

/** VmRSS, RssAnon and RssFile of `pid`. */
export async function readRss(pid: number): Promise<Rss> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  const field = (name: string): number => {
    const m = new RegExp(`^${name}:\\s+(\\d+) kB$`, 'm').exec(status);
    if (m === null) throw new Error(`/proc/${pid}/status has no ${name}`);
    return Number(m[1]);
  };
  return { pid, rssKb: field('VmRSS'), anonKb: field('RssAnon'), fileKb: field('RssFile') };
}

/** Pids whose /proc/PID/comm is `comm` and whose argv contains `argvPart` somewhere. */
export async function findProcesses(comm: string, argvPart: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const c = (await readFile(`/proc/${name}/comm`, 'utf8').catch(() => '')).trim();
    if (c !== comm) continue;
    const argv = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (argv.includes(argvPart)) pids.push(Number(name));
  }
  return pids;
}

/** Pids in the cgroup `relPath` of any hierarchy (cgroup.procs), deduplicated. */
export async function cgroupPids(relPath: string): Promise<number[]> {
  const pids = new Set<number>();
  for (const { point } of await cgroupMounts()) {
    const text = await readFile(join(point, relPath, 'cgroup.procs'), 'utf8').catch(() => '');
    for (const line of text.split('\n')) if (/^\d+$/.test(line)) pids.add(Number(line));
  }
  return [...pids];
}

/** Pids (other than this process) whose argv contains `argvPart`. */
export async function processesWithArg(argvPart: string): Promise<number[]> {
  const pids: number[] = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
    const argv = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (argv.includes(argvPart)) pids.push(Number(name));
  }
  return pids;
}

/** The comm and parent pid of `pid`. */
export async function processInfo(pid: number): Promise<{ readonly comm: string; readonly ppid: number }> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const open = stat.indexOf('(');
  const close = stat.lastIndexOf(')');
  // proc(5): pid (comm) state ppid ...
  const ppid = Number(stat.slice(close + 2).split(' ')[1]);
  return { comm: stat.slice(open + 1, close), ppid };
}
