/**
 * What berth does with a container's cgroup once it exists: apply and update its limits,
 * freeze and thaw it, read its statistics and OOM kills, and signal every process in it.
 * One implementation for both kinds of hierarchy: each controller is used where the host
 * has it, a v1 hierarchy or the cgroup2 tree (on a hybrid host such as this project's CI,
 * v1 for everything but what only cgroup2 offers), and the files differ by version.
 */
import { existsSync, readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FailedPreconditionError, UnsupportedError, isErrnoError } from '../common/errors.js';
import type { LinuxResources } from '../oci/index.js';
import { cgroupError, readControl, writeControl } from './files.js';
import { v1Writes, v2Writes, type ControlWrite } from './resources.js';

/** One of a container's leaf directories, with what the manager knows of its hierarchy. */
export interface LeafDir {
  readonly version: 1 | 2;
  readonly dir: string;
  /** v1: the hierarchy's controllers; v2: unused (the leaf's cgroup.controllers tells). */
  readonly controllers: readonly string[];
  /** v1 cpuset: `cpuset.` or, on a noprefix mount, empty. */
  readonly cpusetPrefix?: string | undefined;
}

/** The v1 name of a controller that cgroup v2 calls otherwise. */
const v1Name: Readonly<Record<string, string>> = { io: 'blkio' };
/** The v2 name of a controller that cgroup v1 calls otherwise. */
const v2Name: Readonly<Record<string, string>> = { blkio: 'io' };

/** Where each controller of a container lives. */
export class ControllerMap {
  readonly #v1 = new Map<string, LeafDir>();
  readonly #v2: LeafDir | undefined;
  #v2Controllers: Set<string> | undefined;

  constructor(readonly leaves: readonly LeafDir[]) {
    for (const leaf of leaves) {
      if (leaf.version === 1) for (const c of leaf.controllers) this.#v1.set(c, leaf);
    }
    this.#v2 = leaves.find((l) => l.version === 2);
  }

  /** The v1 leaf holding `controller` (its v1 name), if a v1 hierarchy has it. */
  v1(controller: string): LeafDir | undefined {
    return this.#v1.get(v1Name[controller] ?? controller);
  }

  /** The cgroup2 leaf, when `controller` (its v2 name) is enabled for it. */
  v2(controller: string): LeafDir | undefined {
    if (this.#v2 === undefined) return undefined;
    this.#v2Controllers ??= new Set(readControl(join(this.#v2.dir, 'cgroup.controllers')).split(/\s+/).filter((c) => c !== ''));
    return this.#v2Controllers.has(v2Name[controller] ?? controller) ? this.#v2 : undefined;
  }

  /** The freezer: v1 `freezer`, or cgroup2's `cgroup.freeze` (every cgroup2 cgroup but the root has it). */
  freezer(): LeafDir | undefined {
    const v1 = this.#v1.get('freezer');
    if (v1 !== undefined) return v1;
    return this.#v2 !== undefined && existsSync(join(this.#v2.dir, 'cgroup.freeze')) ? this.#v2 : undefined;
  }
}

/** The controllers resources need, by v1 name. */
function neededControllers(writes: readonly ControlWrite[]): Set<string> {
  return new Set(writes.map((w) => v1Name[w.controller] ?? w.controller));
}

/**
 * Writes `resources` to the container's cgroup: at create, before any process joins, and
 * on `update`. Returns warnings, in docker's words and each once, for limits this host
 * cannot apply that docker also only warns about (no swap accounting, no blkio weight or
 * swappiness, no OOM-killer switch on cgroup v2); a limit whose controller the host lacks
 * altogether is an error.
 * @throws UnsupportedError, FailedPreconditionError naming the file and the limit;
 *   InvalidArgumentError for a memory+swap limit cgroup v2 cannot express.
 */
export function applyResources(map: ControllerMap, resources: LinuxResources, options: { readonly updating?: boolean } = {}): string[] {
  const warnings: string[] = [];
  const v1 = map.leaves.find((l) => l.version === 1 && l.cpusetPrefix !== undefined);
  const v1All = v1Writes(resources, { cpusetPrefix: v1?.cpusetPrefix ?? 'cpuset.' });
  const v2All = v2Writes(resources);
  for (const controller of neededControllers([...v1All, ...v2All])) {
    const leaf1 = map.v1(controller);
    if (leaf1 !== undefined) {
      writeV1(leaf1.dir, v1All.filter((w) => (v1Name[w.controller] ?? w.controller) === controller), warnings, options.updating === true);
      continue;
    }
    const leaf2 = map.v2(controller);
    if (leaf2 !== undefined) {
      // cgroup v2 has no switch for the OOM killer: docker's sysinfo says OomKillDisable is
      // unsupported there, and verifyPlatformContainerResources warns and drops it.
      if (controller === 'memory' && resources.memory?.disableOOMKiller === true) {
        warnings.push('Your kernel does not support OomKillDisable. OomKillDisable discarded.');
      }
      writeV2(leaf2.dir, v2All.filter((w) => (v1Name[w.controller] ?? w.controller) === controller), warnings);
      continue;
    }
    throw new UnsupportedError(`This host has no ${controller} cgroup controller for the limits asked for`, {
      hint: `Leave out the ${controller} limits, or enable the controller on the host`,
    });
  }
  return warnings;
}

function writeV1(dir: string, writes: readonly ControlWrite[], warnings: string[], updating: boolean): void {
  let ordered = writes;
  // Raising the memory limit above the current memory+swap limit fails until memory+swap
  // is raised first, and lowering memory+swap below memory fails until memory is lowered:
  // pick the order from the limit in place (runc fs/memory.go setMemoryAndSwap).
  const memory = writes.find((w) => w.file === 'memory.limit_in_bytes');
  const swap = writes.find((w) => w.file === 'memory.memsw.limit_in_bytes');
  if (memory !== undefined && swap !== undefined) {
    const current = Number(readControl(join(dir, 'memory.limit_in_bytes')).trim());
    if (Number(memory.value) === -1 || (Number.isFinite(current) && Number(memory.value) > current)) {
      ordered = [swap, memory, ...writes.filter((w) => w !== memory && w !== swap)];
    }
  }
  for (const w of ordered) writeLimit(dir, w, warnings, 1, updating);
}

/**
 * The warning docker gives for a control file some kernels lack (its texts from moby
 * daemon/daemon_unix.go verifyPlatformContainerResources, where sysinfo found the file
 * missing), "" to skip the write without a word, or undefined when the missing file is an
 * error. Unlimited swap needs no swap accounting: docker warns only for a swap limit.
 */
function missingFile(w: ControlWrite): string | undefined {
  switch (w.file) {
    case 'memory.memsw.limit_in_bytes':
    case 'memory.swap.max':
      return w.value === '-1' || w.value === 'max'
        ? ''
        : 'Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.';
    case 'blkio.weight':
      return 'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.';
    case 'blkio.weight_device':
      return 'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.';
    case 'io.weight':
      return w.value.startsWith('default ')
        ? 'Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.'
        : 'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.';
    case 'memory.swappiness':
      return 'Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.';
    default:
      return undefined;
  }
}

function writeV2(dir: string, writes: readonly ControlWrite[], warnings: string[]): void {
  for (const w of writes) writeLimit(dir, w, warnings, 2, false);
}

/**
 * Writes `w` in the leaf `dir`. A control file the host lacks is docker's warning (added to
 * `warnings` once), silently nothing, or an error, as {@link missingFile} says.
 */
function writeLimit(dir: string, w: ControlWrite, warnings: string[], version: 1 | 2, updating: boolean): void {
  const file = join(dir, w.file);
  if (!existsSync(file)) {
    const warning = missingFile(w);
    if (warning === undefined) {
      throw new UnsupportedError(`This host's ${version === 1 ? 'cgroups' : 'cgroup v2'} has no ${w.file}: cannot apply the ${w.controller} limit "${w.value}"`, {
        hint: version === 1 ? 'Leave out that limit: the kernel was built or booted without it' : 'Leave out that limit, or enable the controller on the host',
      });
    }
    if (warning !== '' && !warnings.includes(warning)) warnings.push(warning);
    return;
  }
  try {
    writeControl(file, w.value);
  } catch (err) {
    const cause = err instanceof Error && err.cause !== undefined ? err.cause : err;
    if (isErrnoError(cause, 'EBUSY') || isErrnoError(cause, 'EINVAL') || isErrnoError(cause, 'ENOSPC')) {
      throw new FailedPreconditionError(`The kernel refused ${w.value} for ${w.file}${updating ? ' on the running container' : ''}`, {
        hint: w.controller === 'memory' && updating
          ? 'A memory limit below what the container uses now cannot be set: free memory in the container first, or give a larger limit'
          : `Check the value: the kernel said "${cause instanceof Error ? cause.message : String(cause)}"`,
        cause: err,
      });
    }
    throw err;
  }
}

/** How long {@link freeze} and {@link thaw} wait for the cgroup to get there: 10 s, as runc (fs2/freezer.go waitFrozen). */
const freezeTimeoutMs = 10_000;

/** Options of {@link freeze} and {@link thaw}. */
export interface FreezeOptions {
  /** How long to wait for every task to stop (or run again), in milliseconds; 10 s by default. */
  readonly timeoutMs?: number;
}

/**
 * Freezes every process of the container (v1 freezer.state, v2 cgroup.freeze), waiting until it is.
 * @throws FailedPreconditionError when the cgroup is not frozen in time; it is thawed again then.
 */
export async function freeze(map: ControllerMap, options: FreezeOptions = {}): Promise<void> {
  await setFrozen(map, true, options.timeoutMs ?? freezeTimeoutMs);
}

/** Thaws the container. */
export async function thaw(map: ControllerMap, options: FreezeOptions = {}): Promise<void> {
  await setFrozen(map, false, options.timeoutMs ?? freezeTimeoutMs);
}

async function setFrozen(map: ControllerMap, frozen: boolean, timeoutMs: number): Promise<void> {
  const leaf = map.freezer();
  if (leaf === undefined) {
    throw new UnsupportedError('This host has no cgroup freezer: containers cannot be paused', {
      hint: 'Mount the v1 freezer controller, or use cgroup v2',
    });
  }
  const v1 = leaf.version === 1;
  const file = join(leaf.dir, v1 ? 'freezer.state' : 'cgroup.freeze');
  const wanted = v1 ? (frozen ? 'FROZEN' : 'THAWED') : frozen ? '1' : '0';
  writeControl(file, wanted);
  // Freezing takes effect once every task is stopped: v1 shows FREEZING meanwhile, v2's
  // cgroup.events says "frozen 1".
  const deadline = Date.now() + timeoutMs;
  for (let delay = 1; ; delay = Math.min(delay * 2, 50)) {
    const state = v1 ? readControl(file).trim() : /^frozen (\d)$/m.exec(readControl(join(leaf.dir, 'cgroup.events')))?.[1];
    if (state === wanted) return;
    if (Date.now() >= deadline) {
      // Like runc (fs/freezer.go): a cgroup left FREEZING stops some of its tasks for good.
      if (frozen) writeControl(file, v1 ? 'THAWED' : '0');
      const shown = v1 ? `"${state ?? ''}"` : `"frozen ${state ?? '?'}" in cgroup.events`;
      throw new FailedPreconditionError(`Cannot ${frozen ? 'freeze' : 'thaw'} the cgroup "${leaf.dir}": it still shows ${shown} after ${timeoutMs} ms`, {
        hint: frozen ? 'A process in an uninterruptible sleep (state D) cannot be frozen: try again once it has woken' : 'Check the cgroup, then try again',
      });
    }
    await sleep(delay);
    if (delay === 50 && v1 && frozen && state === 'FREEZING') {
      // v1 can get stuck in FREEZING (a task in an uninterruptible sleep): ask again.
      writeControl(file, 'FROZEN');
    }
  }
}

/** True when the container's cgroup is frozen. */
export function isFrozen(map: ControllerMap): boolean {
  const leaf = map.freezer();
  if (leaf === undefined) return false;
  if (leaf.version === 1) return readControl(join(leaf.dir, 'freezer.state')).trim() === 'FROZEN';
  return /^frozen 1$/m.test(readControl(join(leaf.dir, 'cgroup.events')));
}

/**
 * How many processes of the container the kernel's OOM killer has killed: v2
 * memory.events `oom_kill`, v1 memory.oom_control `oom_kill` (Linux 4.13+).
 */
export function oomKills(map: ControllerMap): number {
  const file = oomFile(map);
  return file === undefined ? 0 : Number(/^oom_kill (\d+)$/m.exec(readControl(file))?.[1] ?? 0);
}

/** The file {@link oomKills} reads: v1 memory.oom_control, v2 memory.events. */
export function oomFile(map: ControllerMap): string | undefined {
  const v1 = map.v1('memory');
  if (v1 !== undefined) return join(v1.dir, 'memory.oom_control');
  const v2 = map.v2('memory');
  return v2 === undefined ? undefined : join(v2.dir, 'memory.events');
}

/**
 * Sends `signal` to every process in the container's cgroup and the cgroups below it, so
 * that nothing escapes by forking: on v2 with SIGKILL through cgroup.kill (Linux 5.14+);
 * otherwise frozen first, so that no process forks between the listing and the signal,
 * then thawed (runc signalAllProcesses).
 */
export async function signalAll(map: ControllerMap, signal: NodeJS.Signals | number, options: FreezeOptions = {}): Promise<void> {
  const v2 = map.leaves.find((l) => l.version === 2);
  const sigkill = signal === 'SIGKILL' || signal === 9;
  if (sigkill && v2 !== undefined && map.freezer() === v2 && existsSync(join(v2.dir, 'cgroup.kill'))) {
    writeControl(join(v2.dir, 'cgroup.kill'), '1');
    return;
  }
  let frozen = false;
  if (map.freezer() !== undefined) {
    try {
      await freeze(map, options);
      frozen = true;
    } catch (err) {
      // A cgroup that will not freeze (thawed again by freeze) still gets the signal, as
      // runc's signalAllProcesses only warns then: a kill must not wait on the freezer.
      if (!(err instanceof FailedPreconditionError)) throw err;
    }
  }
  try {
    for (const pid of pidsBelow(map.leaves.map((l) => l.dir))) {
      try {
        process.kill(pid, signal);
      } catch {
        // Gone already.
      }
    }
  } finally {
    if (frozen) await thaw(map, options);
  }
}

/** The pids in `dirs` and the cgroups below them, ascending, each once. */
export function pidsBelow(dirs: readonly string[]): number[] {
  const pids = new Set<number>();
  for (const dir of dirs) collectPids(dir, pids);
  return [...pids].sort((a, b) => a - b);
}

function collectPids(dir: string, pids: Set<number>): void {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return;
    throw cgroupError('list the processes of', dir, err);
  }
  for (const line of readControl(join(dir, 'cgroup.procs')).split('\n')) {
    if (/^\d+$/.test(line)) pids.add(Number(line));
  }
  for (const entry of entries) if (entry.isDirectory()) collectPids(join(dir, entry.name), pids);
}
