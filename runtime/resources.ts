/**
 * A container's resource limits as docker's HostConfig holds them (the fields `inspect`
 * shows), their checks, and their OCI form (config-linux.md `resources`, `devices`). The
 * rules are docker's (moby daemon/daemon_unix.go verifyPlatformContainerResources and
 * runconfig/opts): what docker refuses, berth refuses before it creates anything, with
 * exit status 125; what docker only warns about, berth warns about.
 */
import { statSync } from 'node:fs';
import { InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { defaultCpuPeriod, minimumMemory } from '../cgroups/index.js';
import type { LinuxDevice, LinuxDeviceCgroup, LinuxResources, LinuxThrottleDevice } from '../oci/index.js';

/** A throttle as docker shows it: a device path and a rate. */
export interface ThrottleDevice {
  readonly Path: string;
  readonly Rate: number;
}

/** `--device HOST[:CONTAINER[:PERMISSIONS]]`. */
export interface DeviceMapping {
  readonly PathOnHost: string;
  readonly PathInContainer: string;
  readonly CgroupPermissions: string;
}

/** docker's HostConfig resource fields; 0, "" and [] mean "not set", as in docker. */
export interface ResourceConfig {
  readonly Memory: number;
  /** Memory plus swap; -1 unlimited; 0 unset (docker then allows as much swap as memory). */
  readonly MemorySwap: number;
  readonly MemoryReservation: number;
  readonly KernelMemory: number;
  readonly OomKillDisable: boolean;
  readonly NanoCpus: number;
  readonly CpuShares: number;
  readonly CpuPeriod: number;
  readonly CpuQuota: number;
  readonly CpusetCpus: string;
  readonly CpusetMems: string;
  /** null unset; 0 or -1 unlimited (docker shows null then). */
  readonly PidsLimit: number | null;
  readonly BlkioWeight: number;
  readonly BlkioDeviceReadBps: readonly ThrottleDevice[];
  readonly BlkioDeviceWriteBps: readonly ThrottleDevice[];
  readonly BlkioDeviceReadIOps: readonly ThrottleDevice[];
  readonly BlkioDeviceWriteIOps: readonly ThrottleDevice[];
  readonly Devices: readonly DeviceMapping[];
  readonly DeviceCgroupRules: readonly string[];
}

/** No limits at all. */
export const noResources: ResourceConfig = {
  Memory: 0, MemorySwap: 0, MemoryReservation: 0, KernelMemory: 0, OomKillDisable: false, NanoCpus: 0, CpuShares: 0,
  CpuPeriod: 0, CpuQuota: 0, CpusetCpus: '', CpusetMems: '', PidsLimit: null, BlkioWeight: 0, BlkioDeviceReadBps: [],
  BlkioDeviceWriteBps: [], BlkioDeviceReadIOps: [], BlkioDeviceWriteIOps: [], Devices: [], DeviceCgroupRules: [],
};

/** docker's defaults filled in: --memory alone allows as much swap again (memory+swap = 2 × memory). */
export function normalizeResources(r: ResourceConfig): ResourceConfig {
  return r.Memory > 0 && r.MemorySwap === 0 ? { ...r, MemorySwap: 2 * r.Memory } : r;
}

/** What the checks need to know of the host. */
export interface HostResources {
  /** CPUs online, e.g. 2. */
  readonly cpus: number;
  /** The CPUs and memory nodes containers may use (the root cpuset), as lists like `0-1`. */
  readonly cpusetCpus: string;
  readonly cpusetMems: string;
}

/**
 * Checks `r` as docker does. Returns the warnings docker prints; throws
 * InvalidArgumentError for what docker refuses.
 */
export function checkResources(r: ResourceConfig, host: HostResources): string[] {
  const warnings: string[] = [];
  const fail = (message: string, hint?: string): never => {
    throw new InvalidArgumentError(message, hint === undefined ? {} : { hint });
  };
  // docker refuses these in its own words below (a negative --memory is under 6MB, a
  // negative --cpus outside the range); the rest it takes and lets the kernel refuse.
  for (const [name, value] of [['--memory-reservation', r.MemoryReservation], ['--kernel-memory', r.KernelMemory], ['--blkio-weight', r.BlkioWeight]] as const) {
    if (value < 0) fail(`Invalid ${name} ${value}: it cannot be negative`);
  }
  if (r.CpuShares < 0) fail(`invalid CPU shares (${r.CpuShares}): value must be a positive integer`);
  if (r.Memory !== 0 && r.Memory < minimumMemory) fail('Minimum memory limit allowed is 6MB', 'Give --memory 6m or more');
  if (r.MemorySwap > 0 && r.Memory === 0) fail('You should always set the Memory limit when using Memoryswap limit, see usage', 'Give --memory too');
  if (r.MemorySwap > 0 && r.MemorySwap < r.Memory) {
    fail('Minimum memoryswap limit should be larger than memory limit, see usage', 'Give --memory-swap at least --memory, or -1 for unlimited swap');
  }
  if (r.MemorySwap < -1) fail(`Invalid --memory-swap ${r.MemorySwap}: give a size, or -1 for unlimited`);
  if (r.MemoryReservation > 0 && r.MemoryReservation < minimumMemory) fail('Minimum memory reservation allowed is 6MB', 'Give --memory-reservation 6m or more');
  if (r.Memory > 0 && r.MemoryReservation > 0 && r.MemoryReservation > r.Memory) {
    fail('Minimum memory limit can not be less than memory reservation limit, see usage', 'Give --memory-reservation at most --memory');
  }
  if (r.KernelMemory > 0) warnings.push('Specifying a kernel memory limit is deprecated and will be removed in a future release.');
  if (r.OomKillDisable && r.Memory === 0) {
    warnings.push('OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.');
  }
  if (r.NanoCpus > 0 && r.CpuPeriod > 0) fail('Conflicting options: Nano CPUs and CPU Period cannot both be set', 'Give --cpus, or --cpu-period with --cpu-quota');
  if (r.NanoCpus > 0 && r.CpuQuota > 0) fail('Conflicting options: Nano CPUs and CPU Quota cannot both be set', 'Give --cpus, or --cpu-period with --cpu-quota');
  // docker leaves the lower bound to the kernel (below 0.01 the quota is under its 1 ms
  // minimum), with the same message.
  if (r.NanoCpus !== 0 && (r.NanoCpus < 1e7 || r.NanoCpus > host.cpus * 1e9)) {
    fail(`Range of CPUs is from 0.01 to ${host.cpus}.00, as there are only ${host.cpus} CPUs available`);
  }
  if (r.CpuPeriod !== 0 && (r.CpuPeriod < 1000 || r.CpuPeriod > 1_000_000)) fail('CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)');
  if (r.CpuQuota !== 0 && r.CpuQuota !== -1 && r.CpuQuota < 1000) fail('CPU cfs quota can not be less than 1ms (i.e. 1000)');
  if (r.CpuShares !== 0 && (r.CpuShares < 2 || r.CpuShares > 262_144)) {
    warnings.push(`Your kernel does not support CPU shares of ${r.CpuShares}: it will be ${r.CpuShares < 2 ? 2 : 262_144}.`);
  }
  checkCpuset('--cpuset-cpus', r.CpusetCpus, host.cpusetCpus, 'CPUs');
  checkCpuset('--cpuset-mems', r.CpusetMems, host.cpusetMems, 'memory nodes');
  if (r.BlkioWeight !== 0 && (r.BlkioWeight < 10 || r.BlkioWeight > 1000)) fail('Range of blkio weight is from 10 to 1000');
  for (const rule of r.DeviceCgroupRules) parseDeviceCgroupRule(rule);
  return warnings;
}

/**
 * A cpuset list must parse and name only what the host offers, as docker's sysinfo
 * isCpusetListAvailable checks (moby pkg/sysinfo/sysinfo_linux.go): no value above 8192 or
 * the host's largest, whichever is more (CVE-2018-20699).
 */
function checkCpuset(flag: string, value: string, available: string, what: string): void {
  if (value === '') return;
  const offered = new Set(parseCpuList(available, 'the host cpuset'));
  const wanted = parseCpuList(value, flag === '--cpuset-cpus' ? 'cpuset cpus' : 'cpuset mems', { maximum: Math.max(defaultMaxCpus, ...offered) });
  const missing = wanted.filter((n) => !offered.has(n));
  if (missing.length > 0) {
    throw new InvalidArgumentError(`Requested ${what} are not available - requested ${value}, available: ${available}`, {
      hint: `Give ${flag} within ${available}`,
    });
  }
}

/** The largest CPU number docker accepts in a cpuset on a host that has fewer. */
const defaultMaxCpus = 8192;

/**
 * `0-3,7` → [0, 1, 2, 3, 7], ascending, each once; duplicates and overlaps are allowed, as
 * in docker's parseUintList. `what` names the list in the error: docker's "Invalid value
 * 0-a for cpuset cpus: invalid format: 0-a".
 */
export function parseCpuList(list: string, what: string, options: { readonly maximum?: number } = {}): number[] {
  const out = new Set<number>();
  const fail = (reason: string): never => {
    throw new InvalidArgumentError(`Invalid value ${list} for ${what}: ${reason}`, { hint: 'Give a list such as 0-3,7' });
  };
  for (const part of list.trim().split(',')) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (m === null) fail(`invalid format: ${list}`);
    const from = Number(m?.[1]);
    const to = m?.[2] === undefined ? from : Number(m[2]);
    if (to < from) fail(`invalid format: ${list}`);
    // Without a maximum (the host's own lists), a range still cannot be larger than Linux allows CPUs.
    const maximum = options.maximum ?? from + 65_536;
    if (to > maximum) fail(`value of out range, maximum is ${maximum}`);
    for (let n = from; n <= to; n++) out.add(n);
  }
  return [...out].sort((a, b) => a - b);
}

/**
 * `c 1:3 rwm`, `b *:* m`, `a *:* rwm`: docker's --device-cgroup-rule, exactly as its CLI
 * matches it (cli/command/container/opts.go deviceCgroupRuleRegexp: no spaces around, and
 * access letters may repeat).
 */
export function parseDeviceCgroupRule(rule: string): LinuxDeviceCgroup {
  const m = /^([acb]) ([0-9]+|\*):([0-9]+|\*) ([rwm]{1,3})$/.exec(rule);
  if (m === null) {
    throw new InvalidArgumentError(`invalid device cgroup format '${rule}'`, { hint: 'Give TYPE MAJOR:MINOR ACCESS, such as "c 1:3 rwm" or "b *:* m"' });
  }
  const [, type = 'a', major = '*', minor = '*', access = 'rwm'] = m;
  return {
    allow: true, type: type as 'a' | 'b' | 'c', access,
    ...(major === '*' ? {} : { major: Number(major) }), ...(minor === '*' ? {} : { minor: Number(minor) }),
  };
}

/** A device node on the host, as the kernel numbers it. */
export interface HostDevice {
  readonly type: 'c' | 'b';
  readonly major: number;
  readonly minor: number;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** Looks up a device node (`--device`, `--device-read-bps`); throws when it is not one. */
export function hostDevice(path: string, flag: string): HostDevice {
  let st;
  try {
    st = statSync(path);
  } catch (err) {
    // moby oci/devices_linux.go DevicesFromPath's words.
    throw new NotFoundError(`Invalid ${flag}: error gathering device information while adding custom device "${path}": no such file or directory`, { cause: err });
  }
  const type = st.isCharacterDevice() ? 'c' : st.isBlockDevice() ? 'b' : undefined;
  if (type === undefined) throw new InvalidArgumentError(`Invalid ${flag}: "${path}" is not a device node`);
  // Linux's new_encode_dev: major in bits 8-19 and 32+, minor in bits 0-7 and 12-31.
  const rdev = BigInt(st.rdev);
  const major = Number(((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn));
  const minor = Number((rdev & 0xffn) | ((rdev >> 12n) & ~0xffn));
  return { type, major, minor, mode: st.mode & 0o7777, uid: st.uid, gid: st.gid };
}

/** The OCI form: `resources` for the cgroup and `devices` for the container's /dev. */
export interface OciResources {
  readonly resources: LinuxResources;
  readonly devices: readonly LinuxDevice[];
}

/**
 * `r` in the OCI runtime config, with device numbers looked up on the host. Like docker:
 * --memory without --memory-swap allows as much swap again (memory+swap = 2 × memory);
 * --cpus is a quota over a 100 ms period; --kernel-memory is ignored.
 */
export function ociResources(r: ResourceConfig, lookup: (path: string, flag: string) => HostDevice = hostDevice): OciResources {
  const memory: Record<string, number | boolean> = {};
  if (r.Memory > 0) memory['limit'] = r.Memory;
  if (r.MemoryReservation > 0) memory['reservation'] = r.MemoryReservation;
  if (r.MemorySwap !== 0) memory['swap'] = r.MemorySwap;
  else if (r.Memory > 0) memory['swap'] = 2 * r.Memory;
  if (r.OomKillDisable) memory['disableOOMKiller'] = true;

  const cpu: Record<string, number | string> = {};
  if (r.CpuShares > 0) cpu['shares'] = Math.min(Math.max(r.CpuShares, 2), 262_144);
  if (r.NanoCpus > 0) {
    cpu['period'] = defaultCpuPeriod;
    // moby daemon_unix.go getCPUResources: NanoCPUs * period / 1e9 in integers, truncated.
    cpu['quota'] = Math.trunc((r.NanoCpus * defaultCpuPeriod) / 1e9);
  }
  if (r.CpuPeriod > 0) cpu['period'] = r.CpuPeriod;
  if (r.CpuQuota !== 0) cpu['quota'] = r.CpuQuota;
  if (r.CpusetCpus !== '') cpu['cpus'] = r.CpusetCpus;
  if (r.CpusetMems !== '') cpu['mems'] = r.CpusetMems;

  const throttle = (list: readonly ThrottleDevice[], flag: string): LinuxThrottleDevice[] => list.map((t) => {
    const d = lookup(t.Path, flag);
    if (d.type !== 'b') throw new InvalidArgumentError(`Invalid ${flag}: "${t.Path}" is not a block device`);
    return { major: d.major, minor: d.minor, rate: t.Rate };
  });
  const blockIO = {
    ...(r.BlkioWeight > 0 ? { weight: r.BlkioWeight } : {}),
    ...nonEmpty('throttleReadBpsDevice', throttle(r.BlkioDeviceReadBps, '--device-read-bps')),
    ...nonEmpty('throttleWriteBpsDevice', throttle(r.BlkioDeviceWriteBps, '--device-write-bps')),
    ...nonEmpty('throttleReadIOPSDevice', throttle(r.BlkioDeviceReadIOps, '--device-read-iops')),
    ...nonEmpty('throttleWriteIOPSDevice', throttle(r.BlkioDeviceWriteIOps, '--device-write-iops')),
  };

  const devices: LinuxDevice[] = [];
  const rules: LinuxDeviceCgroup[] = [];
  for (const m of r.Devices) {
    const d = lookup(m.PathOnHost, '--device');
    devices.push({ type: d.type, path: m.PathInContainer, major: d.major, minor: d.minor, fileMode: d.mode, uid: d.uid, gid: d.gid });
    rules.push({ allow: true, type: d.type, major: d.major, minor: d.minor, access: m.CgroupPermissions });
  }
  rules.push(...r.DeviceCgroupRules.map(parseDeviceCgroupRule));

  const pidsLimit = r.PidsLimit;
  return {
    resources: {
      ...(rules.length > 0 ? { devices: rules } : {}),
      ...(Object.keys(memory).length > 0 ? { memory } : {}),
      ...(Object.keys(cpu).length > 0 ? { cpu } : {}),
      // docker (daemon_unix.go getPidsLimit) sends 0 and below as -1, which lifts a limit on update.
      ...(pidsLimit !== null ? { pids: { limit: pidsLimit > 0 ? pidsLimit : -1 } } : {}),
      ...(Object.keys(blockIO).length > 0 ? { blockIO } : {}),
    },
    devices,
  };
}

function nonEmpty<K extends string, T>(key: K, list: readonly T[]): Partial<Record<K, readonly T[]>> {
  return list.length > 0 ? ({ [key]: list } as Partial<Record<K, readonly T[]>>) : {};
}
