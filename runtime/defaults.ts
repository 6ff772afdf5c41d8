/**
 * Docker's secure defaults for a Linux container, as data. Each constant names the moby
 * file it mirrors (github.com/moby/moby, read at commit b985e23); berth keeps the values
 * and the order so that a config.json berth writes reads like the one dockerd writes.
 */
import type { LinuxDevice, LinuxDeviceCgroup, LinuxNamespaceType, Mount } from '../oci/index.js';

/**
 * The capabilities a container gets unless --cap-add, --cap-drop or --privileged say
 * otherwise; moby daemon/pkg/oci/caps/defaults.go `DefaultCapabilities`.
 */
export const defaultCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_FSETID',
  'CAP_FOWNER',
  'CAP_MKNOD',
  'CAP_NET_RAW',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETFCAP',
  'CAP_SETPCAP',
  'CAP_NET_BIND_SERVICE',
  'CAP_SYS_CHROOT',
  'CAP_KILL',
  'CAP_AUDIT_WRITE',
];

/**
 * Every capability Linux defines, in bit order (0 to 40): CAP_CHECKPOINT_RESTORE (5.9) is
 * still CAP_LAST_CAP in 6.x (include/uapi/linux/capability.h). moby takes the same list from
 * containerd's pkg/cap/cap_linux.go `Known()` (vendored by moby) for --privileged and for
 * checking --cap-add/--cap-drop (daemon/pkg/oci/caps/utils.go).
 */
export const allCapabilities: readonly string[] = [
  'CAP_CHOWN',
  'CAP_DAC_OVERRIDE',
  'CAP_DAC_READ_SEARCH',
  'CAP_FOWNER',
  'CAP_FSETID',
  'CAP_KILL',
  'CAP_SETGID',
  'CAP_SETUID',
  'CAP_SETPCAP',
  'CAP_LINUX_IMMUTABLE',
  'CAP_NET_BIND_SERVICE',
  'CAP_NET_BROADCAST',
  'CAP_NET_ADMIN',
  'CAP_NET_RAW',
  'CAP_IPC_LOCK',
  'CAP_IPC_OWNER',
  'CAP_SYS_MODULE',
  'CAP_SYS_RAWIO',
  'CAP_SYS_CHROOT',
  'CAP_SYS_PTRACE',
  'CAP_SYS_PACCT',
  'CAP_SYS_ADMIN',
  'CAP_SYS_BOOT',
  'CAP_SYS_NICE',
  'CAP_SYS_RESOURCE',
  'CAP_SYS_TIME',
  'CAP_SYS_TTY_CONFIG',
  'CAP_MKNOD',
  'CAP_LEASE',
  'CAP_AUDIT_WRITE',
  'CAP_AUDIT_CONTROL',
  'CAP_SETFCAP',
  'CAP_MAC_OVERRIDE',
  'CAP_MAC_ADMIN',
  'CAP_SYSLOG',
  'CAP_WAKE_ALARM',
  'CAP_BLOCK_SUSPEND',
  'CAP_AUDIT_READ',
  'CAP_PERFMON',
  'CAP_BPF',
  'CAP_CHECKPOINT_RESTORE',
];

/** The --cap-add/--cap-drop value that stands for every capability. */
export const allCapabilitiesKeyword = 'ALL';

/**
 * The canonical form of a --cap-add/--cap-drop value: upper case with the `CAP_` prefix
 * (`net_admin` and `CAP_NET_ADMIN` both give `CAP_NET_ADMIN`), or `ALL`; undefined when
 * Linux has no such capability. moby daemon/pkg/oci/caps/utils.go
 * `NormalizeLegacyCapabilities` does the same.
 */
export function canonicalCapability(name: string): string | undefined {
  const upper = name.toUpperCase();
  if (upper === allCapabilitiesKeyword) return allCapabilitiesKeyword;
  const full = upper.startsWith('CAP_') ? upper : `CAP_${upper}`;
  return allCapabilities.includes(full) ? full : undefined;
}

/**
 * Paths a container cannot read; moby daemon/pkg/oci/defaults.go `defaultLinuxMaskedPaths`.
 * moby also masks /sys/devices/system/cpu/cpuN/thermal_throttle for each CPU of the host
 * where that directory exists (GHSA-6fw5-f8r9-fgfm): that depends on the host, so a caller
 * that wants it appends those paths.
 */
export const defaultMaskedPaths: readonly string[] = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/interrupts',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/sched_debug',
  '/proc/scsi',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/sys/devices/virtual/powercap',
  '/sys/firmware',
];

/** Paths a container sees read-only; moby daemon/pkg/oci/defaults.go `DefaultLinuxSpec`. */
export const defaultReadonlyPaths: readonly string[] = [
  '/proc/bus',
  '/proc/fs',
  '/proc/irq',
  '/proc/sys',
  '/proc/sysrq-trigger',
];

/** Docker's default --shm-size, 64 MiB; moby daemon/config/config.go `DefaultShmSize`. */
export const defaultShmSize = 64 * 1024 * 1024;

/**
 * The filesystems every container gets, in mount order; moby daemon/pkg/oci/defaults.go
 * `DefaultLinuxSpec`. The /dev/shm size is the one daemon/oci_linux.go `withMounts` appends
 * from the default --shm-size.
 */
export const defaultMounts: readonly Mount[] = [
  { destination: '/proc', type: 'proc', source: 'proc', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  {
    destination: '/dev/pts', type: 'devpts', source: 'devpts',
    options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
  },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['ro', 'nosuid', 'noexec', 'nodev'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  {
    destination: '/dev/shm', type: 'tmpfs', source: 'shm',
    options: ['nosuid', 'noexec', 'nodev', 'mode=1777', `size=${defaultShmSize}`],
  },
];

/**
 * The device nodes every container has (config-linux.md "Default Devices", besides
 * /dev/console and /dev/ptmx, which come from the pty and devpts). moby lists none in
 * config.json and leaves them to the runtime; the modes and owners are runc's
 * libcontainer/specconv/spec_linux.go `AllowedDevices`: 0666 (438), root:root.
 */
export const defaultDevices: readonly LinuxDevice[] = [
  { path: '/dev/null', type: 'c', major: 1, minor: 3, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/zero', type: 'c', major: 1, minor: 5, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/full', type: 'c', major: 1, minor: 7, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/random', type: 'c', major: 1, minor: 8, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/urandom', type: 'c', major: 1, minor: 9, fileMode: 0o666, uid: 0, gid: 0 },
  { path: '/dev/tty', type: 'c', major: 5, minor: 0, fileMode: 0o666, uid: 0, gid: 0 },
];

/**
 * The device cgroup rules of an unprivileged container, applied in order: deny all, then
 * allow zero, null, urandom, random, tty, console, and deny /dev/net/tun (10:229); moby
 * daemon/pkg/oci/defaults.go `DefaultLinuxSpec` `Resources.Devices`.
 */
export const defaultDeviceCgroupRules: readonly LinuxDeviceCgroup[] = [
  { allow: false, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 5, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 9, access: 'rwm' },
  { allow: true, type: 'c', major: 1, minor: 8, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 0, access: 'rwm' },
  { allow: true, type: 'c', major: 5, minor: 1, access: 'rwm' },
  { allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' },
];

/**
 * The namespaces a container gets by default: moby daemon/pkg/oci/defaults.go lists mount,
 * network, uts, pid and ipc, and daemon/oci_linux.go `WithNamespaces` adds cgroup for the
 * default "private" cgroupns mode (the default on cgroup v2 hosts; docker uses the host's
 * on v1). moby master also asks for a time namespace on kernels from 5.6; released docker
 * does not, and neither does berth.
 */
export const defaultNamespaces: readonly LinuxNamespaceType[] = ['mount', 'network', 'uts', 'pid', 'ipc', 'cgroup'];

/**
 * Default mount points docker leaves writable under --read-only; moby daemon/oci_linux.go
 * `withMounts` adds `ro` to the others.
 */
export const writableUnderReadOnly: readonly string[] = ['/proc', '/dev/pts', '/dev/shm', '/dev/mqueue', '/dev'];

/**
 * Options every --tmpfs mount starts with, before the user's own; moby daemon/oci_linux.go
 * `withMounts` (rprivate is the default propagation of daemon/volume/mounts/linux_parser.go).
 */
export const defaultTmpfsOptions: readonly string[] = ['noexec', 'nosuid', 'nodev', 'rprivate'];

/**
 * Resource limits --ulimit accepts: the getrlimit(2) resources of Linux, by their names
 * without `RLIMIT_`. docker's go-units ulimit.go leaves out `as`; berth accepts it, as the
 * OCI runtime does.
 */
export const rlimitTypes: readonly string[] = [
  'as', 'core', 'cpu', 'data', 'fsize', 'locks', 'memlock', 'msgqueue', 'nice', 'nofile', 'nproc', 'rss', 'rtprio',
  'rttime', 'sigpending', 'stack',
];

/** The PATH a container gets when its image sets none; moby daemon/pkg/oci/defaults.go `defaultUnixPathEnv`. */
export const defaultPathEnv = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Sysctls docker sets in a container with its own network namespace (not host, not
 * container:ID), when the host kernel has them; moby daemon/oci_linux.go `withCommonOptions`.
 * ping without CAP_NET_RAW, and ports below 1024 without CAP_NET_BIND_SERVICE. Whether the
 * host has them is for the caller to check (/proc/sys/net/ipv4/...).
 */
export const defaultNetworkSysctls: Readonly<Record<string, string>> = {
  'net.ipv4.ping_group_range': '0 2147483647',
  'net.ipv4.ip_unprivileged_port_start': '0',
};
