/**
 * One cgroup per container: a leaf `<parent>/<id>` under berth's parent (`/berth` at the
 * root of each hierarchy, like docker's `/docker`). berth creates the leaf before the
 * container starts; the native helper joins it before it execs ({@link ContainerCgroup.joinTargets}),
 * so no container process ever runs outside it. berth writes only to cgroups it created (the parent chain and the leaves) and,
 * on cgroup v2, to `cgroup.subtree_control` of the ancestors when a controller it needs is
 * not enabled there yet.
 *
 * The cgroupfs calls here are synchronous, a departure from STYLE.md §2: each answers from
 * kernel memory in microseconds, while an awaited fs/promises call costs a round trip
 * through libuv's threadpool (several for readFile and writeFile). Creating a leaf in the
 * ten or so hierarchies of a v1 host took about 7 ms that way, most of it waiting. Only the
 * wait between removal retries is asynchronous.
 */
import { existsSync, mkdirSync, readdirSync, rmdirSync, statSync, type Dirent } from 'node:fs';
import { dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  AlreadyExistsError,
  type BerthError,
  FailedPreconditionError,
  InvalidArgumentError,
  NotFoundError,
  RequiresRootError,
  UnsupportedError,
  isErrnoError,
} from '../common/errors.js';
import type { LinuxResources } from '../oci/index.js';
import { applyResources, ControllerMap, freeze, isFrozen, oomFile, oomKills, pidsBelow, signalAll, thaw, type LeafDir } from './control.js';
import { v1DevicesLeaf } from './devices.js';
import { cgroupError, readControl, writeControl } from './files.js';
import { readStats, type CgroupStats } from './stats.js';
import { readHostLayout, type CgroupMount, type HostLayout } from './hierarchy.js';

/** berth's default cgroup parent (docker's cgroupfs driver uses `/docker`). */
export const defaultCgroupParent = '/berth';

/** The key of the cgroup2 hierarchy in {@link ContainerCgroup.paths}. */
export const unifiedHierarchy = 'unified';

/** The cgroup v2 controllers berth limits containers with; enabled where the host has them. */
const v2Controllers = ['cpu', 'memory', 'pids', 'io', 'cpuset'] as const;

/** Retries of rmdir(2) on EBUSY while the last processes of a leaf exit: about 1.3 s in all. */
const removeRetries = 8;
const firstRetryDelayMs = 5;

/** Options of {@link CgroupManager}. */
export interface CgroupManagerOptions {
  /** The cgroup under which leaves are made, like `/berth`: absolute, no `.` or `..`. */
  readonly parent: string;
  /** The host's hierarchies, from {@link readHostLayout}. */
  readonly layout: HostLayout;
}

/**
 * A container's cgroup: one leaf directory per hierarchy berth uses. Lifecycle: made by
 * {@link CgroupManager.create} (or found again by {@link CgroupManager.attach}), joined by
 * the helper through {@link joinTargets}, removed by {@link remove} once its processes are gone.
 */
export interface ContainerCgroup {
  /** The container id, the leaf's name. */
  readonly id: string;
  /**
   * The leaf directory per hierarchy, keyed by v1 hierarchy name (`memory`, `cpu,cpuacct`,
   * as in /proc/<pid>/cgroup) and `unified` for cgroup2.
   */
  readonly paths: Readonly<Record<string, string>>;
  /** The `cgroup.procs` file of every leaf: writing a pid (or "0", oneself) to each joins the cgroup. */
  procsFiles(): string[];
  /**
   * How a single-threaded process joins the leaf without the cost of `cgroup.procs`: see
   * {@link CgroupJoin}.
   */
  joinTargets(): CgroupJoin;
  /** The processes in the leaf and the cgroups below it, in any hierarchy, ascending; none once removed. */
  pids(): Promise<number[]>;
  /**
   * Removes the leaves and any cgroups the container made below them; a leaf already gone is
   * fine, the parent stays.
   * @throws FailedPreconditionError when processes are still in it after a short wait.
   */
  remove(options?: CgroupRemoveOptions): Promise<void>;
  /**
   * Writes resource limits (config-linux.md `resources`, devices aside: see devices.ts);
   * `updating` for a running container's `update`. Returns warnings for limits this host
   * can only ignore, as docker warns.
   */
  apply(resources: LinuxResources, options?: { readonly updating?: boolean }): string[];
  /** Freezes every process (pause), once they all are. */
  freeze(): Promise<void>;
  /** Thaws them (unpause). */
  thaw(): Promise<void>;
  /** True while frozen. */
  isFrozen(): boolean;
  /** Processes the OOM killer has killed in the container. */
  oomKills(): number;
  /** The file that counts them ("oom_kill N"), when the host has a memory controller. */
  oomFile(): string | undefined;
  /** Sends `signal` to every process in the cgroup and below, none escaping by a fork. */
  signalAll(signal: NodeJS.Signals | number): Promise<void>;
  /** Where each controller lives. */
  controllers(): ControllerMap;
  /** Resource usage now, from the cgroup files. */
  stats(): CgroupStats;
}

/** Options of {@link ContainerCgroup.remove}. */
export interface CgroupRemoveOptions {
  /**
   * Sends SIGKILL to the processes in a leaf that is busy (and in the cgroups below it)
   * before each retry, so that whatever is still in it goes too. Processes are looked for
   * only once rmdir(2) has refused: a container that has exited costs no reads.
   */
  readonly kill?: boolean;
}

/**
 * What berth-helper joins (runtime/native/proto.h). Writing to `cgroup.procs` takes the
 * kernel's threadgroup lock for writing, and its first writer waits a whole RCU grace
 * period: about 10 ms on this machine, once per container start and per exec. Moving one
 * thread does not take it, so on v1 the single-threaded helper writes "0" to each `tasks`
 * file; on cgroup2 it clones the container process straight into the leaf
 * (CLONE_INTO_CGROUP), which takes the lock only for reading.
 */
export interface CgroupJoin {
  /** The `tasks` file of every v1 leaf. */
  readonly tasks: readonly string[];
  /** The cgroup2 leaf directory, when berth uses the unified hierarchy. */
  readonly cgroup2?: string | undefined;
  /**
   * One of the v1 leaves has the devices controller, which enforces the container's device
   * rules once applyDeviceRules (devices.ts) has written them.
   */
  readonly v1Devices?: boolean | undefined;
}

/** A hierarchy as the manager uses it. */
interface Hierarchy {
  /** Its key in {@link ContainerCgroup.paths}. */
  readonly key: string;
  readonly mount: CgroupMount;
  readonly version: 1 | 2;
  /** v1: the hierarchy's controllers. */
  readonly controllers: readonly string[];
  /** The prefix of cpuset control files on a v1 cpuset hierarchy (`cpuset.` or, with noprefix, none). */
  readonly cpusetPrefix: string | undefined;
}

/**
 * Makes and finds container cgroups under one parent. On v1 the leaf is made in every
 * controller hierarchy; on hybrid hosts also in the cgroup2 mount, so that the container is
 * accounted there too; on v2 in the unified tree.
 */
export class CgroupManager {
  /** The parent cgroup, like `/berth`. */
  readonly parent: string;
  /** The host's hierarchies the leaves are made in. */
  readonly layout: HostLayout;
  readonly #hierarchies: readonly Hierarchy[];

  constructor(options: CgroupManagerOptions) {
    this.parent = validateParent(options.parent);
    this.layout = options.layout;
    const v1 = options.layout.mode === 'v2' ? [] : options.layout.v1;
    this.#hierarchies = v1.map((h): Hierarchy => ({
      key: h.name,
      mount: h,
      version: 1,
      controllers: h.controllers,
      cpusetPrefix: h.controllers.includes('cpuset') ? (h.noPrefix ? '' : 'cpuset.') : undefined,
    }));
    const unified = options.layout.mode === 'v1' ? undefined : options.layout.unified;
    if (unified !== undefined) {
      this.#hierarchies = [...this.#hierarchies, { key: unifiedHierarchy, mount: unified, version: 2, controllers: [], cpusetPrefix: undefined }];
    }
  }

  /** A manager for this host's hierarchies (read from `<procRoot>/self/mountinfo`). */
  static async open(options: { readonly parent?: string; readonly procRoot?: string } = {}): Promise<CgroupManager> {
    const layout = await readHostLayout(options.procRoot === undefined ? {} : { procRoot: options.procRoot });
    return new CgroupManager({ parent: options.parent ?? defaultCgroupParent, layout });
  }

  /** The OCI `linux.cgroupsPath` of container `id`: `/berth/<id>`. */
  cgroupPathFor(id: string): string {
    return `${this.parent}/${validateId(id)}`;
  }

  /**
   * Makes the leaf of container `id` in every hierarchy, and the parent where it is missing.
   * All or nothing: on failure the leaves made so far are removed.
   * @throws AlreadyExistsError when the leaf exists in some hierarchy.
   * @throws RequiresRootError, UnsupportedError, FailedPreconditionError when the host refuses.
   */
  async create(id: string): Promise<ContainerCgroup> {
    const cgroup = this.#cgroup(id);
    const made: string[] = [];
    try {
      // One hierarchy after another: the calls are synchronous (see above), and the first
      // failure in hierarchy order is the one reported.
      for (const hierarchy of this.#hierarchies) {
        if (!this.#isParentReady(hierarchy)) this.#prepareParent(hierarchy);
        const leaf = this.#dir(hierarchy, id);
        makeCgroup(leaf, { exclusive: true });
        made.push(leaf);
        if (hierarchy.cpusetPrefix !== undefined) copyCpusetIfEmpty(leaf, hierarchy.cpusetPrefix);
      }
    } catch (err) {
      undoCreate(made, id, err);
      throw err;
    }
    return cgroup;
  }

  /**
   * The cgroup of container `id` made earlier, by this or another berth process. A leaf
   * missing from some hierarchies (a removal cut short) still counts.
   * @throws NotFoundError when no hierarchy has it.
   */
  async attach(id: string): Promise<ContainerCgroup> {
    const cgroup = this.#cgroup(id);
    for (const dir of Object.values(cgroup.paths)) {
      try {
        statSync(dir);
        return cgroup;
      } catch (err) {
        if (!isErrnoError(err, 'ENOENT')) throw cgroupError(`find the cgroup of container "${id}" at`, dir, err);
      }
    }
    throw new NotFoundError(`Container "${id}" has no cgroup under "${this.parent}"`, {
      hint: `Check the container id, and the cgroup parent it was started with (${this.parent})`,
    });
  }

  #cgroup(id: string): ContainerCgroup {
    validateId(id);
    const paths = Object.fromEntries(this.#hierarchies.map((h) => [h.key, this.#dir(h, id)]));
    const leaves = this.#hierarchies.map((h): LeafDir => ({
      version: h.version, dir: this.#dir(h, id), controllers: h.controllers, cpusetPrefix: h.cpusetPrefix,
    }));
    return new LeafCgroup(id, paths, leaves);
  }

  #dir(hierarchy: Hierarchy, id: string): string {
    return join(hierarchy.mount.mountPoint, this.parent, id);
  }

  /**
   * True when the parent cgroup already has what a new leaf needs, so that the walk down
   * from the mount point ({@link #prepareParent}) can be skipped, as it can for every
   * container but the first: the parent exists; on v1 cpuset it has cpus and mems; on v2
   * its `cgroup.subtree_control` enables the controllers berth wants, and then so do all
   * its ancestors (a cgroup can enable only controllers its parent enables, cgroups(7)).
   */
  #isParentReady(hierarchy: Hierarchy): boolean {
    const dir = join(hierarchy.mount.mountPoint, this.parent);
    if (!existsSync(dir)) return false;
    const prefix = hierarchy.cpusetPrefix;
    if (prefix !== undefined && ['cpus', 'mems'].some((name) => readControl(join(dir, `${prefix}${name}`)).trim() === '')) return false;
    if (hierarchy.version === 1) return true;
    const enabled = new Set(readControl(join(dir, 'cgroup.subtree_control')).split(/\s+/));
    return availableControllers(hierarchy.mount.mountPoint).every((name) => enabled.has(name));
  }

  /**
   * Makes the parent chain below the mount point. On v1 cpuset each new level gets its
   * parent's cpus and mems. On v2 every level down to the parent enables the controllers berth
   * needs in `cgroup.subtree_control` (cgroups(7) "Enabling and disabling controllers"), which
   * is allowed only while that cgroup holds no processes (the no-internal-processes rule).
   */
  #prepareParent(hierarchy: Hierarchy): void {
    const chain = [hierarchy.mount.mountPoint];
    for (const name of this.parent.split('/').slice(1)) chain.push(join(chain[chain.length - 1] ?? '', name));
    try {
      statSync(hierarchy.mount.mountPoint);
    } catch (err) {
      if (!isErrnoError(err, 'ENOENT')) throw cgroupError('use the cgroup hierarchy at', hierarchy.mount.mountPoint, err);
      throw new UnsupportedError(`No cgroup filesystem is mounted at "${hierarchy.mount.mountPoint}"`, {
        hint: 'Mount cgroup v2 at /sys/fs/cgroup ("mount -t cgroup2 none /sys/fs/cgroup"), or boot with an init system that mounts it',
        cause: err,
      });
    }
    const wanted = hierarchy.version === 2 ? availableControllers(hierarchy.mount.mountPoint) : [];
    for (const [level, dir] of chain.entries()) {
      if (level > 0) makeCgroup(dir, { exclusive: false });
      if (level > 0 && hierarchy.cpusetPrefix !== undefined) copyCpusetIfEmpty(dir, hierarchy.cpusetPrefix);
      if (wanted.length > 0) enableControllers(dir, wanted);
    }
  }
}

/** The handle {@link CgroupManager} gives out. */
class LeafCgroup implements ContainerCgroup {
  readonly id: string;
  readonly paths: Readonly<Record<string, string>>;

  readonly #leaves: readonly LeafDir[];
  #map: ControllerMap | undefined;

  constructor(id: string, paths: Readonly<Record<string, string>>, leaves: readonly LeafDir[]) {
    this.id = id;
    this.paths = paths;
    this.#leaves = leaves;
  }

  controllers(): ControllerMap {
    this.#map ??= new ControllerMap(this.#leaves);
    return this.#map;
  }

  apply(resources: LinuxResources, options: { readonly updating?: boolean } = {}): string[] {
    return applyResources(this.controllers(), resources, options);
  }

  freeze(): Promise<void> {
    return freeze(this.controllers());
  }

  thaw(): Promise<void> {
    return thaw(this.controllers());
  }

  isFrozen(): boolean {
    return isFrozen(this.controllers());
  }

  oomKills(): number {
    return oomKills(this.controllers());
  }

  stats(): CgroupStats {
    return readStats(this.controllers());
  }

  oomFile(): string | undefined {
    return oomFile(this.controllers());
  }

  signalAll(signal: NodeJS.Signals | number): Promise<void> {
    return signalAll(this.controllers(), signal);
  }

  procsFiles(): string[] {
    return Object.values(this.paths).map((dir) => join(dir, 'cgroup.procs'));
  }

  joinTargets(): CgroupJoin {
    const tasks: string[] = [];
    let cgroup2: string | undefined;
    for (const [key, dir] of Object.entries(this.paths)) {
      if (key === unifiedHierarchy) cgroup2 = dir;
      else tasks.push(join(dir, 'tasks'));
    }
    return { tasks, cgroup2, v1Devices: v1DevicesLeaf(this.paths) !== undefined };
  }

  async pids(): Promise<number[]> {
    return pidsBelow(Object.values(this.paths));
  }

  async remove(options: CgroupRemoveOptions = {}): Promise<void> {
    // Every hierarchy is tried even when one refuses; busy ones are retried together, so
    // exiting processes get the same short wait however many hierarchies there are.
    let pending = Object.values(this.paths);
    let refusal: { dir: string; err: unknown } | undefined;
    for (let attempt = 0, delay = firstRetryDelayMs; pending.length > 0; attempt++, delay *= 2) {
      const busy: { dir: string; err: unknown }[] = [];
      for (const dir of pending) {
        try {
          removeCgroup(dir);
        } catch (err) {
          if (isErrnoError(err, 'EBUSY')) busy.push({ dir, err });
          else refusal ??= { dir, err };
        }
      }
      if (busy.length > 0 && attempt === removeRetries) refusal ??= busy[0];
      if (busy.length === 0 || attempt === removeRetries) break;
      pending = busy.map(({ dir }) => dir);
      if (options.kill === true) killAll(pidsBelow(pending));
      await sleep(delay);
    }
    if (refusal !== undefined) throw this.#removeError(refusal.dir, refusal.err);
  }

  #removeError(dir: string, err: unknown): BerthError {
    if (!isErrnoError(err, 'EBUSY')) return cgroupError(`remove the cgroup of container "${this.id}" at`, dir, err);
    return new FailedPreconditionError(`Cannot remove cgroup "${dir}" of container "${this.id}": processes are still in it`, {
      hint: "Stop the container's processes first, then remove it again",
      cause: err,
    });
  }
}

/**
 * A container id as a leaf name: letters, digits, `_`, `.`, `-`, starting with a letter or
 * digit (so never `.` or `..`), at most NAME_MAX bytes.
 */
function validateId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,254}$/.test(id)) {
    throw new InvalidArgumentError(`Invalid container id "${id}" for a cgroup`, {
      hint: 'Use letters, digits, "_", "." and "-", starting with a letter or digit, at most 255 characters',
    });
  }
  return id;
}

/** The parent must be an absolute cgroup path below the root: `/berth`, `/machine.slice/berth`. */
function validateParent(parent: string): string {
  const names = parent.split('/').slice(1);
  const isValid =
    parent.startsWith('/') &&
    names.length > 0 &&
    names.every((name) => name !== '' && name !== '.' && name !== '..' && Buffer.byteLength(name) <= 255 && !/[\0\n]/.test(name));
  if (!isValid) {
    throw new InvalidArgumentError(`Invalid cgroup parent "${parent}"`, {
      hint: 'Give an absolute cgroup path below the root without "." or ".." components, like "/berth"',
    });
  }
  return parent;
}

/** mkdir(2) in cgroupfs makes a cgroup with its control files. */
function makeCgroup(dir: string, options: { readonly exclusive: boolean }): void {
  try {
    mkdirSync(dir, { mode: 0o755 });
  } catch (err) {
    if (!isErrnoError(err, 'EEXIST')) throw cgroupError('create cgroup', dir, err);
    if (options.exclusive) {
      throw new AlreadyExistsError(`Cannot create cgroup "${dir}": it already exists`, {
        hint: 'Another container has this id, or an earlier one left its cgroup: remove that container first',
        cause: err,
      });
    }
  }
}

/**
 * A new v1 cpuset cgroup has empty `cpuset.cpus` and `cpuset.mems`, and joining it fails
 * (ENOSPC) until both are set. Like runc (libcontainer/cgroups/fs/cpuset.go,
 * cpusetCopyIfNeeded; now opencontainers/cgroups fs/cpuset.go), copy each from the parent
 * cgroup only while it is empty, so values set on purpose stay, and never turn on
 * `cgroup.clone_children`, whose inheritance would also copy `cpu_exclusive` settings.
 */
function copyCpusetIfEmpty(dir: string, prefix: string): void {
  for (const name of ['cpus', 'mems']) {
    const file = join(dir, `${prefix}${name}`);
    if (readControl(file).trim() !== '') continue;
    const inherited = readControl(join(dirname(dir), `${prefix}${name}`)).trim();
    writeControl(file, inherited);
  }
}

/** The controllers berth wants that the cgroup2 root offers (`cgroup.controllers`). */
function availableControllers(mountPoint: string): string[] {
  const offered = new Set(readControl(join(mountPoint, 'cgroup.controllers')).split(/\s+/));
  return v2Controllers.filter((name) => offered.has(name));
}

/** Enables `controllers` for the children of `dir`, writing only when some are not enabled yet. */
function enableControllers(dir: string, controllers: readonly string[]): void {
  const file = join(dir, 'cgroup.subtree_control');
  const enabled = new Set(readControl(file).split(/\s+/));
  const missing = controllers.filter((name) => !enabled.has(name));
  if (missing.length === 0) return;
  try {
    writeControl(file, missing.map((name) => `+${name}`).join(' '));
  } catch (err) {
    if (!isErrnoError(err, 'EBUSY')) throw err;
    throw new FailedPreconditionError(`Cannot enable the ${missing.join(', ')} controllers in "${dir}": processes are in that cgroup`, {
      hint: 'cgroup v2 enables controllers only for cgroups without processes of their own: choose an empty cgroup parent',
      cause: err,
    });
  }
}

/**
 * SIGKILL to each of `pids`. One that is gone already, or that berth may not signal, is
 * passed over: its cgroup stays busy, and the caller's retries report that.
 */
function killAll(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // See above: the busy cgroup is what gets reported.
    }
  }
}

/**
 * rmdir(2) of a cgroup fails with EBUSY while it has processes or child cgroups. Like
 * runc's RemovePath (opencontainers/cgroups utils.go): try rmdir; when that fails, remove
 * the child cgroups depth first (the container may have made some) and try once more. A
 * cgroup already gone is fine; EBUSY is left to the caller to retry.
 */
function removeCgroup(dir: string): void {
  try {
    rmdirSync(dir);
    return;
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return;
  }
  let entries: Dirent[];
  try {
    // A read-only cgroupfs answers EROFS even for a missing directory; readdir tells.
    entries = readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return;
    throw err;
  }
  for (const entry of entries) if (entry.isDirectory()) removeCgroup(join(dir, entry.name));
  try {
    rmdirSync(dir);
  } catch (err) {
    if (!isErrnoError(err, 'ENOENT')) throw err;
  }
}

/** Removes the leaves a failed {@link CgroupManager.create} made; the original error stays the one thrown. */
function undoCreate(made: readonly string[], id: string, original: unknown): void {
  const left: string[] = [];
  for (const dir of made) {
    try {
      rmdirSync(dir);
    } catch (err) {
      if (!isErrnoError(err, 'ENOENT')) left.push(dir);
    }
  }
  if (left.length === 0) return;
  const reason = original instanceof Error ? original.message : String(original);
  const quoted = left.map((dir) => `"${dir}"`).join(', ');
  throw new FailedPreconditionError(`Cannot create the cgroup of container "${id}" (${reason}), nor remove ${quoted} again`, {
    hint: `Remove ${quoted} with rmdir, then try again`,
    cause: original,
  });
}
