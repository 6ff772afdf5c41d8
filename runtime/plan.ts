/**
 * Turns an OCI runtime config (config.json) into the plan berth-helper executes
 * (protocol.ts, runtime/native/proto.h). Policy lives here: which flags a mount option
 * means, the devices and symlinks every container gets, how the cgroup filesystem is shown
 * on a v1 host; the helper only runs the steps in order.
 */
import { InvalidArgumentError } from '../common/errors.js';
import { deviceProgramRules, type CgroupJoin } from '../cgroups/index.js';
import type { LinuxDeviceCgroup, RuntimeSpec } from '../oci/index.js';
import { defaultDevices } from './defaults.js';
import { BpfAccess, BpfDevice, DeviceFilterFlag, ExecPipeFlag, PlanWriter, i32, u32, u64 } from './protocol.js';
import { checkSysctls } from './sysctl.js';

/** mount(2) flags (linux/mount.h). */
const MS = {
  RDONLY: 1, NOSUID: 2, NODEV: 4, NOEXEC: 8, SYNCHRONOUS: 16, REMOUNT: 32, MANDLOCK: 64, DIRSYNC: 128,
  NOATIME: 1024, NODIRATIME: 2048, BIND: 4096, REC: 16384, SILENT: 32768,
  UNBINDABLE: 1 << 17, PRIVATE: 1 << 18, SLAVE: 1 << 19, SHARED: 1 << 20, RELATIME: 1 << 21, STRICTATIME: 1 << 24,
} as const;

/** Mount options that are flags: [set, clear]. The rest go to the filesystem as data. As runc's specconv. */
const flagOptions: Readonly<Record<string, readonly [number, number]>> = {
  ro: [MS.RDONLY, 0], rw: [0, MS.RDONLY], nosuid: [MS.NOSUID, 0], suid: [0, MS.NOSUID], nodev: [MS.NODEV, 0], dev: [0, MS.NODEV],
  noexec: [MS.NOEXEC, 0], exec: [0, MS.NOEXEC], sync: [MS.SYNCHRONOUS, 0], async: [0, MS.SYNCHRONOUS], remount: [MS.REMOUNT, 0],
  mand: [MS.MANDLOCK, 0], nomand: [0, MS.MANDLOCK], dirsync: [MS.DIRSYNC, 0], noatime: [MS.NOATIME, 0], atime: [0, MS.NOATIME],
  nodiratime: [MS.NODIRATIME, 0], diratime: [0, MS.NODIRATIME], bind: [MS.BIND, 0], rbind: [MS.BIND | MS.REC, 0],
  relatime: [MS.RELATIME, 0], norelatime: [0, MS.RELATIME], strictatime: [MS.STRICTATIME, 0], nostrictatime: [0, MS.STRICTATIME],
  silent: [MS.SILENT, 0], loud: [0, MS.SILENT],
  private: [MS.PRIVATE, 0], rprivate: [MS.PRIVATE | MS.REC, 0], shared: [MS.SHARED, 0], rshared: [MS.SHARED | MS.REC, 0],
  slave: [MS.SLAVE, 0], rslave: [MS.SLAVE | MS.REC, 0], unbindable: [MS.UNBINDABLE, 0], runbindable: [MS.UNBINDABLE | MS.REC, 0],
};

/** Splits OCI mount options into mount(2) flags and the filesystem's data string. */
export function mountFlags(options: readonly string[] | undefined, type: string | undefined): { flags: number; data: string } {
  let flags = type === 'bind' ? MS.BIND : 0;
  const data: string[] = [];
  for (const option of options ?? []) {
    const f = flagOptions[option];
    if (f === undefined) data.push(option);
    else flags = (flags | f[0]) & ~f[1];
  }
  return { flags, data: data.join(',') };
}

/** CLONE_NEW* (linux/sched.h) by OCI namespace type. */
export const namespaceFlags = {
  pid: 0x20000000, network: 0x40000000, mount: 0x00020000, ipc: 0x08000000, uts: 0x04000000,
  user: 0x10000000, cgroup: 0x02000000, time: 0x00000080,
} as const;

/** Capability numbers (linux/capability.h). */
export const capabilityNumbers: Readonly<Record<string, number>> = Object.fromEntries(
  [
    'CHOWN', 'DAC_OVERRIDE', 'DAC_READ_SEARCH', 'FOWNER', 'FSETID', 'KILL', 'SETGID', 'SETUID', 'SETPCAP', 'LINUX_IMMUTABLE',
    'NET_BIND_SERVICE', 'NET_BROADCAST', 'NET_ADMIN', 'NET_RAW', 'IPC_LOCK', 'IPC_OWNER', 'SYS_MODULE', 'SYS_RAWIO', 'SYS_CHROOT',
    'SYS_PTRACE', 'SYS_PACCT', 'SYS_ADMIN', 'SYS_BOOT', 'SYS_NICE', 'SYS_RESOURCE', 'SYS_TIME', 'SYS_TTY_CONFIG', 'MKNOD', 'LEASE',
    'AUDIT_WRITE', 'AUDIT_CONTROL', 'SETFCAP', 'MAC_OVERRIDE', 'MAC_ADMIN', 'SYSLOG', 'WAKE_ALARM', 'BLOCK_SUSPEND', 'AUDIT_READ',
    'PERFMON', 'BPF', 'CHECKPOINT_RESTORE',
  ].map((name, bit) => [`CAP_${name}`, bit]),
);

/** RLIMIT_* numbers (asm-generic/resource.h). */
export const rlimitNumbers: Readonly<Record<string, number>> = Object.fromEntries(
  ['CPU', 'FSIZE', 'DATA', 'STACK', 'CORE', 'RSS', 'NPROC', 'NOFILE', 'MEMLOCK', 'AS', 'LOCKS', 'SIGPENDING', 'MSGQUEUE', 'NICE', 'RTPRIO', 'RTTIME']
    .map((name, n) => [`RLIMIT_${name}`, n]),
);

function capMask(names: readonly string[] | undefined): bigint {
  let mask = 0n;
  for (const name of names ?? []) {
    const bit = capabilityNumbers[name.toUpperCase()];
    if (bit === undefined) throw new InvalidArgumentError(`Unknown capability "${name}" in the container's config`);
    mask |= 1n << BigInt(bit);
  }
  return mask;
}

/** How the host mounts cgroups, for the container's /sys/fs/cgroup. */
export type CgroupView =
  | { readonly mode: 'v2' }
  | { readonly mode: 'v1'; readonly hierarchies: readonly { readonly name: string; readonly controllers: readonly string[] }[] };

/** What the plan needs besides config.json. */
export interface PlanInput {
  readonly spec: RuntimeSpec;
  /** Absolute host directory the rootfs is mounted on (the bundle's root.path, resolved). */
  readonly rootfs: string;
  /** The image layers and the container's own upper and work dirs, when the rootfs is an overlay. */
  readonly overlay?: OverlayDirs | undefined;
  /** The fifo `start` opens (runtime.md: create does not run the user's program). */
  readonly execFifo?: string | undefined;
  /** The container's cgroup. */
  readonly cgroup: CgroupJoin;
  readonly cgroups: CgroupView;
  /** --init: a reaping, signal-forwarding PID 1 above the command. */
  readonly init?: boolean | undefined;
  /** runc's --console-socket: where the pty master goes when process.terminal is set. */
  readonly consoleSocket?: string | undefined;
}

/** The overlay of a container's rootfs: the image layers and its own upper and work dirs. */
export interface OverlayDirs {
  readonly lowers: readonly string[];
  readonly upper: string;
  readonly work: string;
}

const S_IFIFO = 0o010000;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;

function addCgroup(plan: PlanWriter, cgroup: CgroupJoin): void {
  for (const path of cgroup.tasks) plan.strings('cgroupTasks', path);
  if (cgroup.cgroup2 !== undefined) plan.strings('cgroup2', cgroup.cgroup2);
}

/** The rootfs directory and, when it is an overlay, the overlay's options. */
function addRootfs(plan: PlanWriter, rootfs: string, overlay: OverlayDirs | undefined): void {
  plan.strings('rootfs', rootfs);
  if (overlay === undefined) return;
  const { lowers, upper, work } = overlay;
  for (const p of [...lowers, upper, work]) {
    if (/[,:]/.test(p)) throw new InvalidArgumentError(`An overlay directory contains "," or ":": ${p}`);
  }
  // The lowers, topmost first, as overlayfs(5) lists them. The options must fit a page.
  const options = `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`;
  if (options.length >= 4096) throw new InvalidArgumentError(`The image has too many layers for one overlay mount (${lowers.length})`);
  plan.strings('overlay', options);
}

/**
 * The device program of a container in a cgroup2 leaf. cgroup v2 has no devices
 * controller: wherever berth puts a container in a cgroup2 leaf, its device rules are a
 * BPF program on that leaf, as runc and crun make them, attached before the container's
 * first process is cloned into it. On a hybrid host the v1 devices controller enforces the
 * same rules as well; there, and only there, a host that cannot load or attach the program
 * runs the container without it. Anywhere else the container must not run unchecked, and
 * its create fails.
 */
function addDeviceFilter(plan: PlanWriter, cgroup: CgroupJoin, rules: readonly LinuxDeviceCgroup[]): void {
  if (cgroup.cgroup2 === undefined) return;
  plan.record('deviceFilter', u32(cgroup.v1Devices === true ? DeviceFilterFlag.optional : 0));
  for (const r of deviceProgramRules(rules)) {
    const type = r.type === 'b' ? BpfDevice.block : r.type === 'c' ? BpfDevice.char : 0;
    const access = (r.access.includes('m') ? BpfAccess.mknod : 0) | (r.access.includes('r') ? BpfAccess.read : 0) | (r.access.includes('w') ? BpfAccess.write : 0);
    plan.record('deviceRule', u32(r.allow ? 1 : 0), u32(type), i32(r.major), i32(r.minor), u32(access));
  }
}

/** The plan for one container's create. Throws InvalidArgumentError for what berth-helper cannot do. */
export function buildPlan(input: PlanInput): Buffer {
  const { spec } = input;
  const plan = new PlanWriter();
  const linux = spec.linux ?? {};
  addCgroup(plan, input.cgroup);
  addDeviceFilter(plan, input.cgroup, linux.resources?.devices ?? []);

  let create = 0;
  for (const ns of linux.namespaces ?? []) {
    const flag = namespaceFlags[ns.type as keyof typeof namespaceFlags];
    if (flag === undefined) throw new InvalidArgumentError(`Unknown namespace type "${ns.type}"`);
    if (ns.type === 'user') throw new InvalidArgumentError('User namespaces are not supported by berth-helper yet');
    if (ns.path !== undefined && ns.path !== '') plan.record('nsJoin', u32(flag), Buffer.from(ns.path));
    else create |= flag;
  }
  if ((create & namespaceFlags.mount) === 0) throw new InvalidArgumentError('berth-helper needs a new mount namespace (linux.namespaces must include "mount")');
  plan.record('nsNew', u32(create));

  addRootfs(plan, input.rootfs, input.overlay);
  if (linux.rootfsPropagation !== undefined) plan.record('propagation', u64(mountFlags([linux.rootfsPropagation], undefined).flags));

  let hasPts = false;
  for (const m of spec.mounts ?? []) {
    if (!m.destination.startsWith('/')) throw new InvalidArgumentError(`Mount destination "${m.destination}" is not absolute`);
    if (m.type === 'cgroup' || m.type === 'cgroup2') {
      addCgroupMounts(plan, m.destination, m.options, input.cgroups);
      continue;
    }
    if (m.type === 'devpts') hasPts = true;
    const { flags, data } = mountFlags(m.options, m.type);
    plan.record('mount', u64(flags), Buffer.from([m.source ?? '', m.destination, m.type ?? '', data].join('\0')));
  }
  // config-linux.md "Default Devices": the runtime MUST supply these, whatever the config lists.
  const listed = new Set((linux.devices ?? []).map((d) => d.path));
  const devices = [...(linux.devices ?? []), ...defaultDevices.filter((d) => !listed.has(d.path))];
  for (const d of devices) {
    const kind = d.type === 'b' ? S_IFBLK : d.type === 'p' ? S_IFIFO : S_IFCHR;
    plan.record('device', u32(kind | ((d.fileMode ?? 0o666) & 0o7777)), u32(d.major ?? 0), u32(d.minor ?? 0), u32(d.uid ?? 0), u32(d.gid ?? 0), Buffer.from(d.path));
  }
  // runc and crun add these to every container.
  plan.strings('symlink', '/proc/self/fd', '/dev/fd');
  plan.strings('symlink', '/proc/self/fd/0', '/dev/stdin');
  plan.strings('symlink', '/proc/self/fd/1', '/dev/stdout');
  plan.strings('symlink', '/proc/self/fd/2', '/dev/stderr');
  if (hasPts) plan.strings('symlink', 'pts/ptmx', '/dev/ptmx');

  for (const p of linux.maskedPaths ?? []) plan.strings('mask', p);
  for (const p of linux.readonlyPaths ?? []) plan.strings('readonly', p);
  if (spec.root?.readonly === true) plan.record('rootReadonly');
  if (spec.hostname !== undefined && spec.hostname !== '') plan.strings('hostname', spec.hostname);
  if (spec.domainname !== undefined && spec.domainname !== '') plan.strings('domainname', spec.domainname);
  checkSysctls(linux.sysctl ?? {}, linux.namespaces ?? []);
  for (const [key, value] of Object.entries(linux.sysctl ?? {})) plan.strings('sysctl', key, value);

  const proc = spec.process;
  if (proc === undefined) throw new InvalidArgumentError('The container config has no process');
  if (proc.oomScoreAdj !== undefined) plan.record('oomScoreAdj', i32(proc.oomScoreAdj));
  addProcess(plan, proc, 'The container config has no command (process.args is empty)');
  if (input.execFifo !== undefined) plan.strings('execFifo', input.execFifo);
  if (input.init === true) plan.record('init');
  if (input.consoleSocket !== undefined) plan.strings('consoleSocket', input.consoleSocket);
  return plan.finish();
}

/**
 * The process records, as create and exec share them: rlimits, identity, capabilities,
 * no_new_privs, terminal, cwd, environment and argv.
 */
function addProcess(plan: PlanWriter, proc: NonNullable<RuntimeSpec['process']>, noCommand: string): void {
  for (const r of proc.rlimits ?? []) {
    const n = rlimitNumbers[r.type];
    if (n === undefined) throw new InvalidArgumentError(`Unknown rlimit "${r.type}"`);
    plan.record('rlimit', u32(n), u64(r.soft), u64(r.hard));
  }
  const { uid, gid, additionalGids, umask } = proc.user;
  plan.record('user', u32(uid), u32(gid), ...(additionalGids ?? []).map((g) => u32(g)));
  if (umask !== undefined) plan.record('umask', u32(umask));
  const caps = proc.capabilities ?? {};
  plan.record('caps', u64(capMask(caps.bounding)), u64(capMask(caps.effective)), u64(capMask(caps.permitted)),
    u64(capMask(caps.inheritable)), u64(capMask(caps.ambient)));
  if (proc.noNewPrivileges === true) plan.record('noNewPrivs');
  if (proc.terminal === true) plan.record('tty');
  plan.strings('cwd', proc.cwd);
  for (const e of proc.env ?? []) plan.strings('env', e);
  const args = proc.args ?? [];
  if (args.length === 0) throw new InvalidArgumentError(noCommand);
  for (const a of args) plan.strings('arg', a);
}

/**
 * The container's view of cgroups: on a v2 host a cgroup2 mount; on a v1 or hybrid host
 * a tmpfs with one cgroup (v1) mount per hierarchy, co-mounted controllers linked by each
 * name (cpu -> cpu,cpuacct), made read-only after, as runc shows them.
 */
function addCgroupMounts(plan: PlanWriter, dest: string, options: readonly string[] | undefined, view: CgroupView): void {
  const { flags } = mountFlags(options, undefined);
  const base = flags & (MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC | MS.RELATIME);
  if (view.mode === 'v2') {
    plan.record('mount', u64(base), Buffer.from(['cgroup2', dest, 'cgroup2', ''].join('\0')));
    return;
  }
  plan.record('mount', u64(MS.NOSUID | MS.NODEV | MS.NOEXEC), Buffer.from(['tmpfs', dest, 'tmpfs', 'mode=755'].join('\0')));
  for (const h of view.hierarchies) {
    plan.record('mount', u64(base), Buffer.from(['cgroup', `${dest}/${h.name}`, 'cgroup', h.controllers.join(',')].join('\0')));
    if (h.controllers.length > 1) {
      for (const c of h.controllers) if (c !== h.name) plan.strings('symlink', h.name, `${dest}/${c}`);
    }
  }
  if ((flags & MS.RDONLY) !== 0) {
    plan.record('mount', u64(MS.REMOUNT | MS.RDONLY | MS.NOSUID | MS.NODEV | MS.NOEXEC), Buffer.from(['', dest, 'tmpfs', ''].join('\0')));
  }
}

/** /proc/<pid>/ns/ names by OCI namespace type. */
const procNsNames: Readonly<Record<string, string>> = {
  pid: 'pid', network: 'net', mount: 'mnt', ipc: 'ipc', uts: 'uts', cgroup: 'cgroup', time: 'time',
};

/** What an exec needs: the process to run and the container it joins. */
export interface ExecPlanInput {
  readonly process: NonNullable<RuntimeSpec['process']>;
  /** The container's first process, whose namespaces are joined. */
  readonly pid: number;
  /** The namespace types the container has of its own (its config's linux.namespaces). */
  readonly namespaces: readonly string[];
  readonly cgroup: CgroupJoin;
  readonly consoleSocket?: string | undefined;
  /** Do not wait for the process (runc exec -d): the helper reports it and exits. */
  readonly detach?: boolean | undefined;
  /**
   * Without a terminal: give the process pipes the helper relays to and from berth's stdio
   * (stdin too with `stdin`, else /dev/null), never berth's fds, which may be the caller's
   * terminal (`berth exec`, as docker's). Left out, it gets the helper's stdio as runc exec does.
   */
  readonly pipes?: { readonly stdin: boolean } | undefined;
}

/**
 * The plan of `exec`: join the container's cgroup and namespaces (the mount namespace last,
 * which also puts the process in the container's root), take the process's identity, and
 * wait for it (the helper stays its parent and reports its status).
 */
export function buildExecPlan(input: ExecPlanInput): Buffer {
  const plan = new PlanWriter();
  addCgroup(plan, input.cgroup);
  for (const type of input.namespaces) {
    const name = procNsNames[type];
    const flag = namespaceFlags[type as keyof typeof namespaceFlags];
    if (name === undefined || flag === undefined) throw new InvalidArgumentError(`Cannot join a "${type}" namespace`);
    plan.record('nsJoin', u32(flag), Buffer.from(`/proc/${input.pid}/ns/${name}`));
  }
  addProcess(plan, input.process, 'No command given to exec');
  if (input.detach !== true) plan.record('execWait');
  if (input.detach !== true && input.pipes !== undefined && input.process.terminal !== true) {
    plan.record('execPipes', u32(input.pipes.stdin ? ExecPipeFlag.stdin : 0));
  }
  if (input.consoleSocket !== undefined) plan.strings('consoleSocket', input.consoleSocket);
  return plan.finish();
}

/** What holding the filesystem of a container that is not running needs. */
export interface HoldPlanInput {
  /** The container's config.json: its bind mounts and root.readonly. */
  readonly spec: RuntimeSpec;
  /** The host directory the rootfs is mounted on, as for create. */
  readonly rootfs: string;
  readonly overlay?: OverlayDirs | undefined;
  /** The container's cgroup, which the holder joins so that removing the container ends it. */
  readonly cgroup?: CgroupJoin | undefined;
}

/** Propagation options, left out of a held mount: see {@link buildHoldPlan}. */
const propagationOptions = new Set(['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'unbindable', 'runbindable']);

/**
 * The plan that holds a stopped container's filesystem for `berth cp` (proto.h PLAN_HOLD):
 * in a new mount namespace and nothing else, the rootfs overlay and the config's bind
 * mounts (volumes, -v, and /etc/hosts, /etc/hostname, /etc/resolv.conf), as docker mounts a
 * stopped container's rootfs and volumes for `docker cp` (moby daemon/archive.go, whose
 * openContainerFS mounts what setupMounts lists). proc, sysfs, /dev and tmpfs mounts are
 * left out: they hold nothing of the container's and vanish when it stops; a tmpfs path is
 * then the rootfs's directory under it. So are bind mounts below those, and devices and
 * symlinks, which the helper would make in the writable layer where the running container
 * has a tmpfs. Propagation options are dropped and the helper makes `/` a slave: nothing
 * mounted here reaches the host.
 */
export function buildHoldPlan(input: HoldPlanInput): Buffer {
  const plan = new PlanWriter();
  if (input.cgroup !== undefined) addCgroup(plan, input.cgroup);
  plan.record('nsNew', u32(namespaceFlags.mount));
  addRootfs(plan, input.rootfs, input.overlay);
  // Where the container has a file system of its own making (/dev, /proc, a tmpfs): a bind
  // mount there (a device, a socket) would only add its mount point to the writable layer.
  const skipped: string[] = [];
  const under = (dest: string): boolean => skipped.some((d) => dest === d || dest.startsWith(d === '/' ? d : `${d}/`));
  for (const m of input.spec.mounts ?? []) {
    const options = m.options ?? [];
    if (!m.destination.startsWith('/')) throw new InvalidArgumentError(`Mount destination "${m.destination}" is not absolute`);
    if (m.type !== 'bind' && !options.includes('bind') && !options.includes('rbind')) {
      skipped.push(m.destination);
      continue;
    }
    if (under(m.destination)) continue;
    const { flags, data } = mountFlags(options.filter((o) => !propagationOptions.has(o)), 'bind');
    plan.record('mount', u64(flags), Buffer.from([m.source ?? '', m.destination, 'bind', data].join('\0')));
  }
  if (input.spec.root?.readonly === true) plan.record('rootReadonly');
  plan.record('hold');
  return plan.finish();
}
