/**
 * Which cgroup hierarchies the host mounts, read from the mount table
 * (`/proc/self/mountinfo`, proc(5)):
 *
 * - `v2`: one cgroup2 ("unified") mount, usually at /sys/fs/cgroup; what current
 *   distributions boot with.
 * - `v1`: one cgroup v1 mount per hierarchy, each with one or more controllers
 *   (`/sys/fs/cgroup/memory`, `/sys/fs/cgroup/cpu,cpuacct` with `cpu` and `cpuacct`
 *   symlinks to it).
 * - `hybrid`: v1 controller hierarchies plus a cgroup2 mount (systemd puts it at
 *   /sys/fs/cgroup/unified) that holds only the controllers no v1 hierarchy took, often none.
 */
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { InvalidContentError, UnsupportedError, isErrnoError } from '../common/errors.js';

/** How the host mounts cgroups. */
export type CgroupMode = 'v2' | 'v1' | 'hybrid';

/** One mounted cgroup hierarchy. */
export interface CgroupMount {
  /** Where it is mounted, e.g. `/sys/fs/cgroup/memory`. */
  readonly mountPoint: string;
  /**
   * The cgroup of the hierarchy that the mount point shows: `/` normally; a path such as
   * `/docker/<id>` inside a container that has no cgroup namespace of its own. Paths under
   * the mount point are relative to it.
   */
  readonly root: string;
}

/** A cgroup v1 hierarchy with at least one controller. */
export interface V1Hierarchy extends CgroupMount {
  /** The controllers joined with ",", as /proc/<pid>/cgroup names the hierarchy: `cpu,cpuacct`. */
  readonly name: string;
  /** Its controllers, in the kernel's order: `["cpu", "cpuacct"]`. */
  readonly controllers: readonly string[];
  /**
   * Mounted with `noprefix` (only the cpuset controller allows it, mostly on Android):
   * control files lack the controller prefix (`cpus`, not `cpuset.cpus`).
   */
  readonly noPrefix: boolean;
}

/**
 * The host's cgroup layout. Invariants: `v2` has `unified` and no `v1` hierarchies; `v1`
 * has hierarchies and no `unified`; `hybrid` has both. Each hierarchy appears once.
 */
export interface HostLayout {
  readonly mode: CgroupMode;
  /** v1 hierarchies with controllers, each at its preferred mount point. */
  readonly v1: readonly V1Hierarchy[];
  /** The cgroup2 mount, when there is one. */
  readonly unified: CgroupMount | undefined;
}

/**
 * The cgroup v1 controllers Linux has (include/linux/cgroup_subsys.h). Super options of a
 * v1 mount mix controllers with flags (`xattr`, `noprefix`, `clone_children`,
 * `release_agent=...`, `name=...`); naming the controllers keeps a future flag from being
 * taken for one.
 */
const v1Controllers: ReadonlySet<string> = new Set([
  'cpuset', 'cpu', 'cpuacct', 'memory', 'devices', 'freezer', 'net_cls', 'net_prio',
  'blkio', 'perf_event', 'hugetlb', 'pids', 'rdma', 'misc', 'debug',
]);

/** Where init systems mount cgroups; a mount here wins over others of the same hierarchy. */
const cgroupDir = '/sys/fs/cgroup';

/** One line of mountinfo, the fields berth needs. */
interface MountEntry {
  readonly id: number;
  readonly parentId: number;
  readonly root: string;
  readonly mountPoint: string;
  readonly fsType: string;
  readonly superOptions: readonly string[];
}

/**
 * Reads the host's cgroup layout from `<procRoot>/self/mountinfo`.
 * @throws UnsupportedError when no cgroup filesystem is mounted.
 */
export async function readHostLayout(options: { readonly procRoot?: string } = {}): Promise<HostLayout> {
  const path = join(options.procRoot ?? '/proc', 'self', 'mountinfo');
  let text: string;
  try {
    // Synchronous: a small procfs file, read on the way to every container's cgroup, where
    // readFile would cost several threadpool round trips (open, fstat, reads, close).
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) {
      throw new UnsupportedError(`Cannot find the cgroup filesystems: "${path}" does not exist`, {
        hint: 'Mount procfs at /proc ("mount -t proc proc /proc")',
        cause: err,
      });
    }
    throw new UnsupportedError(`Cannot find the cgroup filesystems: cannot read "${path}"`, { cause: err });
  }
  return parseMountinfo(text);
}

/**
 * The cgroup layout described by the text of a mountinfo file (proc(5)). Named v1
 * hierarchies without controllers (`name=systemd`) are left out: they limit nothing, and
 * `name=systemd` belongs to the host's systemd. runc joins it so that systemd can run inside
 * a container; berth can add that as an option when it needs it.
 * @throws UnsupportedError when no cgroup filesystem with controllers is mounted.
 * @throws InvalidContentError when a line is not mountinfo.
 */
export function parseMountinfo(text: string): HostLayout {
  const entries = text
    .split('\n')
    .map((line, index) => ({ line, index }))
    .filter(({ line }) => line.trim() !== '')
    .map(({ line, index }) => parseLine(line, index + 1));
  const visible = visibleMounts(entries);

  const v1ByName = new Map<string, { hierarchy: V1Hierarchy; score: number }>();
  let unified: { mount: CgroupMount; score: number } | undefined;
  for (const entry of visible) {
    if (entry.fsType === 'cgroup2') {
      const mount = { mountPoint: entry.mountPoint, root: entry.root };
      const score = preference(entry, entry.mountPoint === cgroupDir ? 2 : entry.mountPoint === `${cgroupDir}/unified` ? 1 : 0);
      if (unified === undefined || score > unified.score) unified = { mount, score };
    } else if (entry.fsType === 'cgroup') {
      const controllers = entry.superOptions.filter((option) => v1Controllers.has(option));
      if (controllers.length === 0) continue;
      const hierarchy: V1Hierarchy = {
        mountPoint: entry.mountPoint,
        root: entry.root,
        name: controllers.join(','),
        controllers,
        noPrefix: entry.superOptions.includes('noprefix'),
      };
      const score = preference(entry, dirname(entry.mountPoint) === cgroupDir ? 1 : 0);
      const known = v1ByName.get(hierarchy.name);
      if (known === undefined || score > known.score) v1ByName.set(hierarchy.name, { hierarchy, score });
    }
  }

  const v1 = [...v1ByName.values()].map(({ hierarchy }) => hierarchy);
  if (v1.length === 0 && unified === undefined) {
    throw new UnsupportedError('No cgroup filesystem is mounted', {
      hint: 'Mount cgroup v2 at /sys/fs/cgroup ("mount -t cgroup2 none /sys/fs/cgroup"), or boot with an init system that mounts it',
    });
  }
  const mode: CgroupMode = v1.length === 0 ? 'v2' : unified === undefined ? 'v1' : 'hybrid';
  return { mode, v1, unified: unified?.mount };
}

/** Higher is better: a mount of the whole hierarchy first, then the usual place. */
function preference(entry: MountEntry, placeScore: number): number {
  return (entry.root === '/' ? 4 : 0) + placeScore;
}

/**
 * One mountinfo line: `36 35 98:0 /root /mnt rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
 * (ID, parent ID, major:minor, root, mount point, mount options, optional fields, "-",
 * filesystem type, source, super options).
 */
function parseLine(line: string, lineNumber: number): MountEntry {
  const fields = line.split(' ');
  const separator = fields.indexOf('-', 6);
  const [id, parentId, , root, mountPoint] = fields;
  const fsType = fields[separator + 1];
  const superOptions = fields[separator + 3];
  if (separator < 0 || id === undefined || parentId === undefined || root === undefined || mountPoint === undefined ||
    fsType === undefined || superOptions === undefined || !/^\d+$/.test(id) || !/^\d+$/.test(parentId)) {
    throw new InvalidContentError(`Cannot read the mount table: line ${lineNumber} is not mountinfo: "${line.slice(0, 200)}"`);
  }
  return {
    id: Number(id),
    parentId: Number(parentId),
    root: unescapeOctal(root),
    mountPoint: unescapeOctal(mountPoint),
    fsType,
    superOptions: superOptions.split(','),
  };
}

/** mountinfo writes space, tab, newline and backslash in paths as `\040`, `\011`, `\012`, `\134`. */
function unescapeOctal(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/**
 * The mounts a path lookup can reach. The kernel lists mounts in the order they were made,
 * so a mount is hidden by a later one at the same mount point, or by a later one at an
 * ancestor directory that is not its own parent mount (`mount -t cgroup2 none
 * /sys/fs/cgroup` over a v1 tmpfs hides every v1 mount below it).
 */
function visibleMounts(entries: readonly MountEntry[]): MountEntry[] {
  const byId = new Map(entries.map((entry) => [entry.id, entry]));
  const isAncestorMount = (ancestor: MountEntry, entry: MountEntry): boolean => {
    const seen = new Set<number>();
    for (let current = byId.get(entry.parentId); current !== undefined && !seen.has(current.id); current = byId.get(current.parentId)) {
      if (current.id === ancestor.id) return true;
      seen.add(current.id);
    }
    return false;
  };
  const isVisible = (entry: MountEntry, index: number): boolean => {
    for (const later of entries.slice(index + 1)) {
      if (later.mountPoint === entry.mountPoint) return false;
      const under = later.mountPoint === '/' || entry.mountPoint.startsWith(`${later.mountPoint}/`);
      if (under && !isAncestorMount(later, entry)) return false;
    }
    return true;
  };
  // Only cgroup mounts matter; a host with thousands of mounts has a dozen of those.
  return entries.filter((entry, index) => (entry.fsType === 'cgroup' || entry.fsType === 'cgroup2') && isVisible(entry, index));
}
