/**
 * Resource limits (config-linux.md "Control groups" `resources`) as writes to cgroup
 * control files, for the v1 controllers and for cgroup v2. Pure: {@link ControlWrite}s name
 * a controller, a file and a value; the leaf (leaf.ts) decides which hierarchy holds each
 * controller and writes them. Conversions between v1 and v2 values follow runc
 * (opencontainers/cgroups: fs/*.go for v1, fs2/*.go and utils.go for v2), so that a limit
 * means the same on either kind of host.
 */
import { InvalidArgumentError } from '../common/errors.js';
import type { LinuxResources, LinuxThrottleDevice } from '../oci/index.js';

/** One write: `value` to `file` in the container's cgroup of `controller`. */
export interface ControlWrite {
  readonly controller: 'memory' | 'cpu' | 'cpuset' | 'pids' | 'blkio' | 'io' | 'hugetlb';
  readonly file: string;
  readonly value: string;
}

/** The cgroup v1 controllers {@link v1Writes} may name. */
export type V1Controller = 'memory' | 'cpu' | 'cpuset' | 'pids' | 'blkio' | 'hugetlb';

/** The cgroup v2 controllers {@link v2Writes} may name. */
export type V2Controller = 'memory' | 'cpu' | 'cpuset' | 'pids' | 'io' | 'hugetlb';

/** cpu.cfs_period_us when only a quota is given: the kernel's default, 100 ms. */
export const defaultCpuPeriod = 100_000;

/** The smallest memory limit berth accepts, as docker: below it a container cannot even start. */
export const minimumMemory = 6 * 1024 * 1024;

/**
 * The v1 writes for `r`, by controller. Memory limits come in an order that works when the
 * limit goes down (memory before memory+swap); control.ts writes memory+swap first when it
 * goes up. `cpusetPrefix` is `cpuset.` (or empty on a `noprefix` mount).
 */
export function v1Writes(r: LinuxResources, options: { readonly cpusetPrefix?: string } = {}): ControlWrite[] {
  const out: ControlWrite[] = [];
  const memory = r.memory ?? {};
  // 0 is "unset" for the memory limits (runc fs/memory.go setMemory, setSwap): writing it
  // would leave the container no memory at all.
  if (isSet(memory.limit)) out.push({ controller: 'memory', file: 'memory.limit_in_bytes', value: String(memory.limit) });
  if (isSet(memory.swap)) out.push({ controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: String(memory.swap) });
  if (isSet(memory.reservation)) out.push({ controller: 'memory', file: 'memory.soft_limit_in_bytes', value: String(memory.reservation) });
  if (memory.swappiness !== undefined) out.push({ controller: 'memory', file: 'memory.swappiness', value: String(memory.swappiness) });
  if (memory.disableOOMKiller !== undefined) out.push({ controller: 'memory', file: 'memory.oom_control', value: memory.disableOOMKiller ? '1' : '0' });

  const cpu = r.cpu ?? {};
  if (cpu.shares !== undefined && cpu.shares !== 0) out.push({ controller: 'cpu', file: 'cpu.shares', value: String(cpu.shares) });
  // The period first: a quota is checked against the period in place.
  if (cpu.period !== undefined && cpu.period !== 0) out.push({ controller: 'cpu', file: 'cpu.cfs_period_us', value: String(cpu.period) });
  if (cpu.quota !== undefined && cpu.quota !== 0) out.push({ controller: 'cpu', file: 'cpu.cfs_quota_us', value: String(cpu.quota) });
  const prefix = options.cpusetPrefix ?? 'cpuset.';
  if (cpu.cpus !== undefined && cpu.cpus !== '') out.push({ controller: 'cpuset', file: `${prefix}cpus`, value: cpu.cpus });
  if (cpu.mems !== undefined && cpu.mems !== '') out.push({ controller: 'cpuset', file: `${prefix}mems`, value: cpu.mems });

  if (r.pids?.limit !== undefined) out.push({ controller: 'pids', file: 'pids.max', value: pidsMax(r.pids.limit) });

  const io = r.blockIO ?? {};
  if (io.weight !== undefined && io.weight !== 0) out.push({ controller: 'blkio', file: 'blkio.weight', value: String(io.weight) });
  for (const d of io.weightDevice ?? []) {
    if (d.weight !== undefined) out.push({ controller: 'blkio', file: 'blkio.weight_device', value: `${d.major}:${d.minor} ${d.weight}` });
  }
  const throttles: [readonly LinuxThrottleDevice[] | undefined, string][] = [
    [io.throttleReadBpsDevice, 'blkio.throttle.read_bps_device'],
    [io.throttleWriteBpsDevice, 'blkio.throttle.write_bps_device'],
    [io.throttleReadIOPSDevice, 'blkio.throttle.read_iops_device'],
    [io.throttleWriteIOPSDevice, 'blkio.throttle.write_iops_device'],
  ];
  for (const [devices, file] of throttles) {
    for (const d of devices ?? []) out.push({ controller: 'blkio', file, value: `${d.major}:${d.minor} ${d.rate}` });
  }
  for (const h of r.hugepageLimits ?? []) {
    out.push({ controller: 'hugetlb', file: `hugetlb.${h.pageSize}.limit_in_bytes`, value: String(h.limit) });
  }
  return out;
}

/**
 * The cgroup v2 writes for `r`. Memory+swap becomes `memory.swap.max`, the swap alone;
 * shares become `cpu.weight` and the blkio weight `io.weight` on their v2 scales; v1 has
 * no OOM-killer switch here (docker warns and ignores it on v2, as the caller should).
 */
export function v2Writes(r: LinuxResources): ControlWrite[] {
  const out: ControlWrite[] = [];
  const memory = r.memory ?? {};
  if (isSet(memory.reservation)) out.push({ controller: 'memory', file: 'memory.low', value: v2Max(memory.reservation) });
  if (isSet(memory.limit)) out.push({ controller: 'memory', file: 'memory.max', value: v2Max(memory.limit) });
  const swap = v2SwapMax(memory.limit, memory.swap);
  if (swap !== undefined) out.push({ controller: 'memory', file: 'memory.swap.max', value: swap });

  const cpu = r.cpu ?? {};
  if (cpu.shares !== undefined && cpu.shares !== 0) out.push({ controller: 'cpu', file: 'cpu.weight', value: String(sharesToWeight(cpu.shares)) });
  if ((cpu.quota !== undefined && cpu.quota !== 0) || (cpu.period !== undefined && cpu.period !== 0)) {
    const quota = cpu.quota === undefined || cpu.quota <= 0 ? 'max' : String(cpu.quota);
    out.push({ controller: 'cpu', file: 'cpu.max', value: `${quota} ${cpu.period !== undefined && cpu.period !== 0 ? cpu.period : defaultCpuPeriod}` });
  }
  if (cpu.cpus !== undefined && cpu.cpus !== '') out.push({ controller: 'cpuset', file: 'cpuset.cpus', value: cpu.cpus });
  if (cpu.mems !== undefined && cpu.mems !== '') out.push({ controller: 'cpuset', file: 'cpuset.mems', value: cpu.mems });

  if (r.pids?.limit !== undefined) out.push({ controller: 'pids', file: 'pids.max', value: pidsMax(r.pids.limit) });

  const io = r.blockIO ?? {};
  if (io.weight !== undefined && io.weight !== 0) out.push({ controller: 'io', file: 'io.weight', value: `default ${blkioWeightToIoWeight(io.weight)}` });
  for (const d of io.weightDevice ?? []) {
    if (d.weight !== undefined) out.push({ controller: 'io', file: 'io.weight', value: `${d.major}:${d.minor} ${blkioWeightToIoWeight(d.weight)}` });
  }
  const limits = new Map<string, string[]>();
  const add = (devices: readonly LinuxThrottleDevice[] | undefined, key: string): void => {
    for (const d of devices ?? []) {
      const dev = `${d.major}:${d.minor}`;
      limits.set(dev, [...(limits.get(dev) ?? []), `${key}=${d.rate > 0 ? d.rate : 'max'}`]);
    }
  };
  add(io.throttleReadBpsDevice, 'rbps');
  add(io.throttleWriteBpsDevice, 'wbps');
  add(io.throttleReadIOPSDevice, 'riops');
  add(io.throttleWriteIOPSDevice, 'wiops');
  for (const [dev, keys] of limits) out.push({ controller: 'io', file: 'io.max', value: `${dev} ${keys.join(' ')}` });
  for (const h of r.hugepageLimits ?? []) out.push({ controller: 'hugetlb', file: `hugetlb.${h.pageSize}.max`, value: String(h.limit) });
  return out;
}

function isSet(value: number | undefined): value is number {
  return value !== undefined && value !== 0;
}

/**
 * pids.max for an OCI pids limit: a positive limit as is, 0 as 1 and a negative one as
 * "max" (runc fs/pids.go and fs2/pids.go: systemd cannot set 0, and a cgroup with its init
 * in it and a limit of 1 forks no more than one with a limit of 0).
 */
function pidsMax(limit: number): string {
  return limit > 0 ? String(limit) : limit === 0 ? '1' : 'max';
}

/** -1 (or any negative) is "max" on cgroup v2. */
function v2Max(value: number): string {
  return value < 0 ? 'max' : String(value);
}

/**
 * `memory.swap.max` from the v1-style memory+swap limit, as runc's
 * ConvertMemorySwapToCgroupV2Value (opencontainers/cgroups utils.go) and fs2/memory.go
 * setMemory: an unlimited memory limit without a swap limit lifts both; unlimited swap
 * stays unlimited; memory+swap equal to memory means no swap ("0"); with an unlimited
 * memory limit the swap limit is taken as is; a memory+swap limit without a memory limit
 * cannot be expressed. Undefined when nothing is to be written.
 * @throws InvalidArgumentError for what runc refuses.
 */
export function v2SwapMax(limit: number | undefined, swap: number | undefined): string | undefined {
  const memory = limit ?? 0;
  const memorySwap = swap ?? 0;
  if (memory === -1 && memorySwap === 0) return 'max';
  if (memorySwap === -1) return 'max';
  if (memorySwap === 0) return undefined;
  if (memory === -1) return String(memorySwap);
  if (memory === 0) {
    throw new InvalidArgumentError('Cannot set a memory+swap limit without a memory limit on cgroup v2', { hint: 'Give a memory limit too' });
  }
  if (memory < 0) throw new InvalidArgumentError(`Invalid memory limit ${memory}: give a size, or -1 for unlimited`);
  if (memorySwap < memory) {
    throw new InvalidArgumentError(`The memory+swap limit ${memorySwap} is below the memory limit ${memory}`, {
      hint: 'Give a memory+swap limit at least the memory limit, or -1 for unlimited swap',
    });
  }
  return String(memorySwap - memory);
}

/**
 * cpu.shares (2..262144, default 1024) to cpu.weight (1..10000, default 100), as runc
 * does since opencontainers/cgroups commit fd95216 (v0.0.3 on, ConvertCPUSharesToCgroupV2Value):
 * a quadratic in log2(shares) through the minimum, maximum and default of both scales, so
 * that the default 1024 is the default weight 100 (the older linear formula gave 39, and
 * a weight outside 1..10000 for shares out of range). 0 stays 0, "unset".
 */
export function sharesToWeight(shares: number): number {
  if (shares <= 0) return 0;
  if (shares <= 2) return 1;
  if (shares >= 262_144) return 10_000;
  const l = Math.log2(shares);
  const exponent = (l * l + 125 * l) / 612 - 7 / 34;
  return Math.ceil(10 ** exponent);
}

/** blkio.weight (10..1000) to io.weight (1..10000), linearly (runc ConvertBlkIOToIOWeightValue). */
export function blkioWeightToIoWeight(weight: number): number {
  if (weight <= 0) return 0;
  return Math.floor(1 + ((weight - 10) * 9999) / 990);
}
