/**
 * OCI runtime-spec types: the bundle's config.json (config.md, config-linux.md), the
 * container state (runtime.md "State") and the features document (features.md,
 * features-linux.md). Field names are the spec's JSON names. A document read from disk is
 * `unknown` until it has passed {@link SchemaValidator} (`runtime-config`, `runtime-state`).
 */

/**
 * The runtime-spec version berth's types follow and writes as `ociVersion`: the reference
 * copy in shared/oci-spec/runtime-spec is v1.3.0 (its specs-go/version.go says 1.3.0).
 * runc and crun accept any 1.x value.
 */
export const runtimeSpecVersion = '1.3.0';

/** config.md "Mounts": one entry of `mounts`, mounted in the listed order. */
export interface Mount {
  /** Absolute path inside the container. */
  readonly destination: string;
  /** A device, a host path for bind mounts, or a dummy (`proc`, `tmpfs`). */
  readonly source?: string;
  /** Filesystem type; for bind mounts a dummy such as `bind` or `none`. */
  readonly type?: string;
  /** mount(8) options plus the propagation and bind flags of config.md "Linux mount options". */
  readonly options?: readonly string[];
  /** config.md "POSIX-platform Mounts": idmapped mount, always together with `gidMappings`. */
  readonly uidMappings?: readonly LinuxIDMapping[];
  readonly gidMappings?: readonly LinuxIDMapping[];
}

/** config.md "Root". */
export interface Root {
  /** Absolute, or relative to the bundle (conventionally `rootfs`). */
  readonly path: string;
  readonly readonly?: boolean;
}

/** config.md "POSIX-platform User": ids in the container's user namespace. */
export interface User {
  readonly uid: number;
  readonly gid: number;
  readonly umask?: number;
  readonly additionalGids?: readonly number[];
}

/** config.md "Linux Process" `capabilities`: names such as `CAP_CHOWN`. */
export interface LinuxCapabilities {
  readonly bounding?: readonly string[];
  readonly effective?: readonly string[];
  readonly inheritable?: readonly string[];
  readonly permitted?: readonly string[];
  readonly ambient?: readonly string[];
}

/** config.md "POSIX process" `rlimits` entry; `type` is a getrlimit(2) name (`RLIMIT_NOFILE`). */
export interface POSIXRlimit {
  readonly type: string;
  readonly hard: number;
  readonly soft: number;
}

/** config.md "Linux Process" `scheduler`. */
export interface LinuxScheduler {
  readonly policy: 'SCHED_OTHER' | 'SCHED_FIFO' | 'SCHED_RR' | 'SCHED_BATCH' | 'SCHED_ISO' | 'SCHED_IDLE' | 'SCHED_DEADLINE';
  readonly nice?: number;
  readonly priority?: number;
  readonly flags?: readonly string[];
  readonly runtime?: number;
  readonly deadline?: number;
  readonly period?: number;
}

/** config.md "Linux Process" `ioPriority`. */
export interface LinuxIOPriority {
  readonly class: 'IOPRIO_CLASS_RT' | 'IOPRIO_CLASS_BE' | 'IOPRIO_CLASS_IDLE';
  readonly priority: number;
}

/** config.md "Process": the container process, REQUIRED when `start` is called. */
export interface Process {
  readonly terminal?: boolean;
  /** Ignored unless `terminal` is true. */
  readonly consoleSize?: { readonly height: number; readonly width: number };
  readonly user: User;
  /** At least one entry; the first is resolved like execvp's *file*. */
  readonly args?: readonly string[];
  readonly env?: readonly string[];
  /** Absolute working directory. */
  readonly cwd: string;
  readonly capabilities?: LinuxCapabilities;
  readonly rlimits?: readonly POSIXRlimit[];
  readonly noNewPrivileges?: boolean;
  readonly apparmorProfile?: string;
  /** Written to /proc/PID/oom_score_adj when set; left alone otherwise. */
  readonly oomScoreAdj?: number;
  readonly scheduler?: LinuxScheduler;
  readonly selinuxLabel?: string;
  readonly ioPriority?: LinuxIOPriority;
  readonly execCPUAffinity?: { readonly initial?: string; readonly final?: string };
}

/** config.md "POSIX-platform Hooks" entry. */
export interface Hook {
  /** Absolute path in the runtime namespace (the container namespace for `startContainer`). */
  readonly path: string;
  readonly args?: readonly string[];
  readonly env?: readonly string[];
  /** Seconds, greater than zero. */
  readonly timeout?: number;
}

/** config.md "POSIX-platform Hooks", in lifecycle order. */
export interface Hooks {
  /** Deprecated by the spec in favour of `createRuntime`. */
  readonly prestart?: readonly Hook[];
  readonly createRuntime?: readonly Hook[];
  readonly createContainer?: readonly Hook[];
  readonly startContainer?: readonly Hook[];
  readonly poststart?: readonly Hook[];
  readonly poststop?: readonly Hook[];
}

/** config-linux.md "Namespaces" `type`. */
export type LinuxNamespaceType = 'pid' | 'network' | 'mount' | 'ipc' | 'uts' | 'user' | 'cgroup' | 'time';

/** config-linux.md "Namespaces" entry: created when `path` is absent, joined otherwise. */
export interface LinuxNamespace {
  readonly type: LinuxNamespaceType;
  /** Absolute path of a namespace file in the runtime mount namespace (`/proc/PID/ns/net`). */
  readonly path?: string;
}

/** config-linux.md "User namespace mappings" entry. */
export interface LinuxIDMapping {
  readonly containerID: number;
  readonly hostID: number;
  readonly size: number;
}

/** config-linux.md "Devices" entry: a node the runtime makes available in the container. */
export interface LinuxDevice {
  /** `c` char, `b` block, `u` unbuffered char, `p` FIFO. */
  readonly type: 'c' | 'b' | 'u' | 'p';
  readonly path: string;
  /** Required unless `type` is `p`. */
  readonly major?: number;
  readonly minor?: number;
  /** Permission bits as a decimal number (0o666 is 438). */
  readonly fileMode?: number;
  readonly uid?: number;
  readonly gid?: number;
}

/** config-linux.md "Allowed Device list" entry; unset type/major/minor mean "all". */
export interface LinuxDeviceCgroup {
  readonly allow: boolean;
  readonly type?: 'a' | 'c' | 'b';
  readonly major?: number;
  readonly minor?: number;
  /** Some of `r`, `w`, `m`. */
  readonly access?: string;
}

/** config-linux.md "Memory": bytes, or -1 for unlimited. */
export interface LinuxMemory {
  readonly limit?: number;
  readonly reservation?: number;
  /** Memory plus swap. */
  readonly swap?: number;
  /** Not recommended by the spec. */
  readonly kernel?: number;
  /** Not recommended by the spec. */
  readonly kernelTCP?: number;
  /** 0 to 100. */
  readonly swappiness?: number;
  readonly disableOOMKiller?: boolean;
  readonly useHierarchy?: boolean;
  readonly checkBeforeUpdate?: boolean;
}

/** config-linux.md "CPU": times in microseconds. */
export interface LinuxCPU {
  readonly shares?: number;
  readonly quota?: number;
  readonly burst?: number;
  readonly period?: number;
  readonly realtimeRuntime?: number;
  readonly realtimePeriod?: number;
  /** CPU list such as `0-3,7`. */
  readonly cpus?: string;
  /** Memory node list such as `0-3,7`. */
  readonly mems?: string;
  readonly idle?: number;
}

/** config-linux.md "PIDs": -1 means no limit, and 0 is a valid limit. */
export interface LinuxPids {
  readonly limit?: number;
}

/** config-linux.md "Block IO" `weightDevice` entry (at least one of the weights). */
export interface LinuxWeightDevice {
  readonly major: number;
  readonly minor: number;
  readonly weight?: number;
  readonly leafWeight?: number;
}

/** config-linux.md "Block IO" throttle entry: bytes or operations per second. */
export interface LinuxThrottleDevice {
  readonly major: number;
  readonly minor: number;
  readonly rate: number;
}

/** config-linux.md "Block IO". */
export interface LinuxBlockIO {
  readonly weight?: number;
  readonly leafWeight?: number;
  readonly weightDevice?: readonly LinuxWeightDevice[];
  readonly throttleReadBpsDevice?: readonly LinuxThrottleDevice[];
  readonly throttleWriteBpsDevice?: readonly LinuxThrottleDevice[];
  readonly throttleReadIOPSDevice?: readonly LinuxThrottleDevice[];
  readonly throttleWriteIOPSDevice?: readonly LinuxThrottleDevice[];
}

/** config-linux.md "Huge page limits" entry. */
export interface LinuxHugepageLimit {
  /** `<size><unit-prefix>B`, base 1024: `2MB`, `1GB`. */
  readonly pageSize: string;
  readonly limit: number;
}

/** config-linux.md "Network" (net_cls, net_prio). */
export interface LinuxNetwork {
  readonly classID?: number;
  readonly priorities?: readonly { readonly name: string; readonly priority: number }[];
}

/** config-linux.md "RDMA" entry, keyed by device name. */
export interface LinuxRdma {
  readonly hcaHandles?: number;
  readonly hcaObjects?: number;
}

/** config-linux.md "Control groups" `resources`. */
export interface LinuxResources {
  /** Applied in the listed order. */
  readonly devices?: readonly LinuxDeviceCgroup[];
  readonly memory?: LinuxMemory;
  readonly cpu?: LinuxCPU;
  readonly pids?: LinuxPids;
  readonly blockIO?: LinuxBlockIO;
  readonly hugepageLimits?: readonly LinuxHugepageLimit[];
  readonly network?: LinuxNetwork;
  readonly rdma?: Readonly<Record<string, LinuxRdma>>;
  /** config-linux.md "Unified": cgroup v2 file name to content. */
  readonly unified?: Readonly<Record<string, string>>;
}

/** config-linux.md "Seccomp" `syscalls[].args` entry. */
export interface LinuxSeccompArg {
  readonly index: number;
  readonly value: number;
  readonly valueTwo?: number;
  readonly op: string;
}

/** config-linux.md "Seccomp" `syscalls` entry. */
export interface LinuxSyscall {
  /** At least one name. */
  readonly names: readonly string[];
  /** `SCMP_ACT_*`. */
  readonly action: string;
  readonly errnoRet?: number;
  readonly args?: readonly LinuxSeccompArg[];
}

/**
 * config-linux.md "Seccomp". Action, architecture, flag and operator names are libseccomp's
 * (`SCMP_ACT_ERRNO`, `SCMP_ARCH_X86_64`, ...) and are kept as plain strings here.
 */
export interface LinuxSeccomp {
  readonly defaultAction: string;
  readonly defaultErrnoRet?: number;
  readonly architectures?: readonly string[];
  readonly flags?: readonly string[];
  readonly listenerPath?: string;
  /** Only with `listenerPath`. */
  readonly listenerMetadata?: string;
  readonly syscalls?: readonly LinuxSyscall[];
}

/** config-linux.md "IntelRdt". */
export interface LinuxIntelRdt {
  readonly closID?: string;
  readonly l3CacheSchema?: string;
  readonly memBwSchema?: string;
  readonly schemata?: readonly string[];
  readonly enableMonitoring?: boolean;
}

/** config-linux.md "Memory policy". */
export interface LinuxMemoryPolicy {
  readonly mode: string;
  readonly nodes?: string;
  readonly flags?: readonly string[];
}

/** config-linux.md "Personality". */
export interface LinuxPersonality {
  readonly domain: 'LINUX' | 'LINUX32';
  readonly flags?: readonly string[];
}

/** config-linux.md "Offset for Time Namespace" entry, keyed by clock name. */
export interface LinuxTimeOffset {
  readonly secs?: number;
  readonly nanosecs?: number;
}

/** config-linux.md "Rootfs Mount Propagation". */
export type RootfsPropagation = 'shared' | 'slave' | 'private' | 'unbindable';

/** config-linux.md: the `linux` object of config.json. */
export interface Linux {
  /** Namespaces not listed are inherited from the runtime; a type may appear once. */
  readonly namespaces?: readonly LinuxNamespace[];
  readonly uidMappings?: readonly LinuxIDMapping[];
  readonly gidMappings?: readonly LinuxIDMapping[];
  readonly timeOffsets?: Readonly<Record<string, LinuxTimeOffset>>;
  /** Nodes beyond the default devices (null, zero, full, random, urandom, tty, console, ptmx). */
  readonly devices?: readonly LinuxDevice[];
  /** config-linux.md "Network Devices": host interface name to its settings in the container. */
  readonly netDevices?: Readonly<Record<string, { readonly name?: string }>>;
  /** Absolute (from the cgroup mount point) or runtime-relative. */
  readonly cgroupsPath?: string;
  readonly resources?: LinuxResources;
  readonly rootfsPropagation?: RootfsPropagation;
  readonly seccomp?: LinuxSeccomp;
  readonly sysctl?: Readonly<Record<string, string>>;
  /** Absolute paths made unreadable. */
  readonly maskedPaths?: readonly string[];
  /** Absolute paths made read-only. */
  readonly readonlyPaths?: readonly string[];
  readonly mountLabel?: string;
  readonly intelRdt?: LinuxIntelRdt;
  readonly memoryPolicy?: LinuxMemoryPolicy;
  readonly personality?: LinuxPersonality;
}

/** config.md: a bundle's config.json (the Linux parts; other platforms are not modelled). */
export interface RuntimeSpec {
  /** SemVer of the runtime-spec the bundle complies with. */
  readonly ociVersion: string;
  readonly process?: Process;
  /** REQUIRED on Linux. */
  readonly root?: Root;
  readonly hostname?: string;
  readonly domainname?: string;
  readonly mounts?: readonly Mount[];
  readonly hooks?: Hooks;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly linux?: Linux;
}

/** runtime.md "State" `status`. */
export type RuntimeStatus = 'creating' | 'created' | 'running' | 'stopped';

/** runtime.md "State": what `state <id>` prints and what hooks read on stdin. */
export interface RuntimeState {
  readonly ociVersion: string;
  readonly id: string;
  readonly status: RuntimeStatus;
  /** REQUIRED on Linux when `status` is `created` or `running`. */
  readonly pid?: number;
  /** Absolute path of the bundle directory. */
  readonly bundle: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** features-linux.md: what a runtime recognises on Linux. */
export interface LinuxFeatures {
  readonly namespaces?: readonly LinuxNamespaceType[] | null;
  readonly capabilities?: readonly string[] | null;
  readonly cgroup?: {
    readonly v1?: boolean | null;
    readonly v2?: boolean | null;
    readonly systemd?: boolean | null;
    readonly systemdUser?: boolean | null;
    readonly rdma?: boolean | null;
  } | null;
  readonly seccomp?: {
    readonly enabled?: boolean | null;
    readonly actions?: readonly string[] | null;
    readonly operators?: readonly string[] | null;
    readonly archs?: readonly string[] | null;
    readonly knownFlags?: readonly string[] | null;
    readonly supportedFlags?: readonly string[] | null;
  } | null;
  readonly apparmor?: { readonly enabled?: boolean | null } | null;
  readonly selinux?: { readonly enabled?: boolean | null } | null;
  readonly memoryPolicy?: { readonly modes?: readonly string[] | null; readonly flags?: readonly string[] | null } | null;
  readonly intelRdt?: { readonly enabled?: boolean | null; readonly schemata?: boolean | null; readonly monitoring?: boolean | null } | null;
  readonly mountExtensions?: { readonly idmap?: { readonly enabled?: boolean | null } | null } | null;
  readonly netDevices?: { readonly enabled?: boolean | null } | null;
}

/**
 * features.md: the runtime's implemented features, fixed when it is built. Every property
 * except the two versions may be absent or null (null is not the same as empty).
 */
export interface RuntimeFeatures {
  readonly ociVersionMin: string;
  readonly ociVersionMax: string;
  readonly hooks?: readonly string[] | null;
  readonly mountOptions?: readonly string[] | null;
  readonly linux?: LinuxFeatures | null;
  readonly annotations?: Readonly<Record<string, string>> | null;
  /** Annotation names, or prefixes ending in `.`, that may change the runtime's behaviour. */
  readonly potentiallyUnsafeConfigAnnotations?: readonly string[] | null;
}
