/**
 * docker's resource flags, shared by run/create and update: the options, and their values
 * parsed the way docker's CLI parses them (units.RAMInBytes for sizes: 1024-based, an
 * optional b/k/m/g/t/p unit, decimals allowed; --cpus as a decimal number of CPUs).
 */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../common/errors.js';
import type { DeviceMapping, ResourceConfig, ThrottleDevice } from '../runtime/index.js';

/** The flags as commander gives them. */
export interface ResourceFlags {
  readonly memory?: string;
  readonly memorySwap?: string;
  readonly memoryReservation?: string;
  readonly kernelMemory?: string;
  readonly oomKillDisable?: boolean;
  readonly cpus?: string;
  readonly cpuShares?: string;
  readonly cpuPeriod?: string;
  readonly cpuQuota?: string;
  readonly cpusetCpus?: string;
  readonly cpusetMems?: string;
  readonly pidsLimit?: string;
  readonly blkioWeight?: string;
  readonly deviceReadBps?: string[];
  readonly deviceWriteBps?: string[];
  readonly deviceReadIops?: string[];
  readonly deviceWriteIops?: string[];
  readonly device?: string[];
  readonly deviceCgroupRule?: string[];
}

const collect = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** Adds the limits `update` can change (docker update's flags). */
export function updatableResourceOptions(command: Command): Command {
  return command
    .option('-m, --memory <bytes>', 'memory limit (e.g. 64m, 1g)')
    .option('--memory-swap <bytes>', 'memory plus swap limit; -1 for unlimited swap')
    .option('--memory-reservation <bytes>', 'memory soft limit')
    .option('--kernel-memory <bytes>', 'kernel memory limit (deprecated, ignored)')
    .option('--cpus <number>', 'number of CPUs (e.g. 0.5)')
    .option('-c, --cpu-shares <weight>', 'CPU shares (relative weight)')
    .option('--cpu-period <us>', 'limit the CPU CFS period, in microseconds')
    .option('--cpu-quota <us>', 'limit the CPU CFS quota, in microseconds')
    .option('--cpuset-cpus <list>', 'CPUs the container may use (0-3, 0,1)')
    .option('--cpuset-mems <list>', 'memory nodes the container may use (0-3, 0,1)')
    .option('--pids-limit <n>', 'process limit (-1 for unlimited)')
    .option('--blkio-weight <weight>', 'block IO relative weight, 10 to 1000 (0 to disable)');
}

/** Adds every resource flag of run and create. */
export function resourceOptions(command: Command): Command {
  return updatableResourceOptions(command)
    .option('--oom-kill-disable', 'disable the OOM killer (cgroup v1)')
    .option('--device-read-bps <path:rate>', 'limit read rate from a device (e.g. /dev/sda:1mb)', collect)
    .option('--device-write-bps <path:rate>', 'limit write rate to a device', collect)
    .option('--device-read-iops <path:rate>', 'limit read operations per second from a device', collect)
    .option('--device-write-iops <path:rate>', 'limit write operations per second to a device', collect)
    .option('--device <host[:container][:rwm]>', 'add a host device to the container', collect)
    .option('--device-cgroup-rule <rule>', 'add a rule to the devices cgroup (e.g. "c 1:3 rwm")', collect);
}

const units: Readonly<Record<string, number>> = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** docker's units.RAMInBytes: "64m", "1.5g", "512", "1GiB". */
export function parseBytes(value: string, flag: string): number {
  const m = /^(\d+(?:\.\d+)?) ?([kKmMgGtTpP])?[iI]?[bB]?$/.exec(value.trim());
  if (m === null) {
    throw new InvalidArgumentError(`invalid argument "${value}" for "${flag}" flag: invalid size: '${value}'`, { hint: 'Give a size such as 64m, 512k or 1g' });
  }
  return Math.floor(Number(m[1]) * (units[(m[2] ?? '').toLowerCase()] ?? 1));
}

function parseInteger(value: string, flag: string): number {
  if (!/^-?\d+$/.test(value.trim())) throw new InvalidArgumentError(`invalid argument "${value}" for "${flag}" flag: give a whole number`);
  return Number(value);
}

/** --memory-swap: a size or -1. */
function parseSwap(value: string): number {
  return value.trim() === '-1' ? -1 : parseBytes(value, '--memory-swap');
}

/** --cpus: decimal CPUs to nano CPUs. */
export function parseCpus(value: string): number {
  if (!/^\d*\.?\d+$/.test(value.trim())) throw new InvalidArgumentError(`invalid argument "${value}" for "--cpus" flag: give a number of CPUs such as 1.5`);
  return Math.round(Number(value) * 1e9);
}

/** PATH:RATE of the --device-*-bps (a size) and --device-*-iops (a number) flags. */
function parseThrottle(spec: string, flag: string, bytes: boolean): ThrottleDevice {
  const colon = spec.lastIndexOf(':');
  if (colon <= 0) throw new InvalidArgumentError(`invalid argument "${spec}" for "${flag}" flag: bad format ${spec}`, { hint: `Give PATH:RATE, such as /dev/sda:${bytes ? '1mb' : '1000'}` });
  const path = spec.slice(0, colon);
  const rate = bytes ? parseBytes(spec.slice(colon + 1), flag) : parseInteger(spec.slice(colon + 1), flag);
  if (!path.startsWith('/dev/')) throw new InvalidArgumentError(`invalid argument "${spec}" for "${flag}" flag: ${path} is not a device path`);
  if (rate < 0) throw new InvalidArgumentError(`invalid argument "${spec}" for "${flag}" flag: the rate cannot be negative`);
  return { Path: path, Rate: rate };
}

/** --device HOST[:CONTAINER][:PERMISSIONS] (docker opts.ParseDevice). */
export function parseDevice(spec: string): DeviceMapping {
  const parts = spec.split(':');
  const isMode = (s: string): boolean => /^[rwm]{1,3}$/.test(s) && new Set(s).size === s.length;
  let host = parts[0] ?? '';
  let container = host;
  let permissions = 'rwm';
  if (parts.length === 2) {
    if (isMode(parts[1] ?? '')) permissions = parts[1] ?? 'rwm';
    else container = parts[1] ?? host;
  } else if (parts.length === 3) {
    container = parts[1] ?? host;
    permissions = parts[2] ?? 'rwm';
    if (!isMode(permissions)) throw new InvalidArgumentError(`invalid device mode: ${permissions}`, { hint: 'Use some of r, w and m' });
  } else if (parts.length > 3) {
    throw new InvalidArgumentError(`invalid device specification: ${spec}`);
  }
  if (!host.startsWith('/') || !container.startsWith('/')) {
    throw new InvalidArgumentError(`invalid device specification: ${spec}`, { hint: 'Give absolute paths: --device /dev/fuse or --device /dev/sda:/dev/xvdc:r' });
  }
  host = host.replace(/\/+$/, '');
  return { PathOnHost: host, PathInContainer: container, CgroupPermissions: permissions };
}

/** The limits the flags set, and only those (for update). */
export function resourceChanges(flags: ResourceFlags): Partial<ResourceConfig> {
  const out: { -readonly [K in keyof ResourceConfig]?: ResourceConfig[K] } = {};
  if (flags.memory !== undefined) out.Memory = parseBytes(flags.memory, '--memory');
  if (flags.memorySwap !== undefined) out.MemorySwap = parseSwap(flags.memorySwap);
  if (flags.memoryReservation !== undefined) out.MemoryReservation = parseBytes(flags.memoryReservation, '--memory-reservation');
  if (flags.kernelMemory !== undefined) out.KernelMemory = parseBytes(flags.kernelMemory, '--kernel-memory');
  if (flags.oomKillDisable === true) out.OomKillDisable = true;
  if (flags.cpus !== undefined) out.NanoCpus = parseCpus(flags.cpus);
  if (flags.cpuShares !== undefined) out.CpuShares = parseInteger(flags.cpuShares, '--cpu-shares');
  if (flags.cpuPeriod !== undefined) out.CpuPeriod = parseInteger(flags.cpuPeriod, '--cpu-period');
  if (flags.cpuQuota !== undefined) out.CpuQuota = parseInteger(flags.cpuQuota, '--cpu-quota');
  if (flags.cpusetCpus !== undefined) out.CpusetCpus = flags.cpusetCpus;
  if (flags.cpusetMems !== undefined) out.CpusetMems = flags.cpusetMems;
  if (flags.pidsLimit !== undefined) {
    const n = parseInteger(flags.pidsLimit, '--pids-limit');
    out.PidsLimit = n > 0 ? n : -1;
  }
  if (flags.blkioWeight !== undefined) out.BlkioWeight = parseInteger(flags.blkioWeight, '--blkio-weight');
  if (flags.deviceReadBps !== undefined) out.BlkioDeviceReadBps = flags.deviceReadBps.map((s) => parseThrottle(s, '--device-read-bps', true));
  if (flags.deviceWriteBps !== undefined) out.BlkioDeviceWriteBps = flags.deviceWriteBps.map((s) => parseThrottle(s, '--device-write-bps', true));
  if (flags.deviceReadIops !== undefined) out.BlkioDeviceReadIOps = flags.deviceReadIops.map((s) => parseThrottle(s, '--device-read-iops', false));
  if (flags.deviceWriteIops !== undefined) out.BlkioDeviceWriteIOps = flags.deviceWriteIops.map((s) => parseThrottle(s, '--device-write-iops', false));
  if (flags.device !== undefined) out.Devices = flags.device.map(parseDevice);
  if (flags.deviceCgroupRule !== undefined) out.DeviceCgroupRules = flags.deviceCgroupRule;
  return out;
}
