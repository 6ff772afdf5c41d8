/**
 * docker's resource flags, shared by run/create and update: the options, and their values
 * parsed the way docker's CLI parses them (units.RAMInBytes for sizes: 1024-based, an
 * optional b/k/m/g/t/p unit, decimals allowed; --cpus as a decimal number of CPUs).
 */
import { posix } from 'node:path';
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

const units: Readonly<Record<string, number>> = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4, p: 1024 ** 5 };

/** The text after `invalid argument "VALUE" for "FLAG" flag: `, as pflag reports a flag's parse error. */
function invalid(value: string, flag: string, reason: string, hint?: string): InvalidArgumentError {
  return new InvalidArgumentError(`invalid argument "${value}" for "${flag}" flag: ${reason}`, hint === undefined ? {} : { hint });
}

/** Go's strconv.ParseFloat for the decimal forms ("1", "1.5", ".5", "5.", "1e3"); NaN otherwise. */
function goFloat(text: string): number {
  return /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/.test(text) ? Number(text) : Number.NaN;
}

/**
 * docker's units.RAMInBytes (docker/go-units v0.5.0 size.go parseSize, which docker 28
 * ships): a number, an optional space, then an optional unit, k, m, g, t or p (1024-based,
 * any case), which may be followed by b or ib; or b alone. "64m", "1.5g", "512", "1 GiB".
 * Decimals are truncated to whole bytes.
 */
export function parseBytes(value: string, flag: string): number {
  const hint = 'Give a size such as 64m, 512k or 1g';
  const sep = Math.max(...[...'0123456789. '].map((c) => value.lastIndexOf(c)));
  if (sep === -1) throw invalid(value, flag, `invalid size: '${value}'`, hint);
  const num = value.slice(0, value[sep] === ' ' ? sep : sep + 1);
  let suffix = value.slice(sep + 1);
  const size = goFloat(num);
  if (Number.isNaN(size)) throw invalid(value, flag, `strconv.ParseFloat: parsing "${num}": invalid syntax`, hint);
  if (size < 0) throw invalid(value, flag, `invalid size: '${value}'`, hint);
  if (suffix === '') return Math.trunc(size);
  const badSuffix = (): InvalidArgumentError => invalid(value, flag, `invalid suffix: '${suffix}'`, hint);
  if (suffix.length > 3) throw badSuffix();
  suffix = suffix.toLowerCase();
  if (suffix[0] === 'b') {
    if (suffix.length > 1) throw badSuffix();
    return Math.trunc(size);
  }
  const multiplier = units[suffix[0] ?? ''];
  if (multiplier === undefined) throw badSuffix();
  if ((suffix.length === 2 && suffix[1] !== 'b') || (suffix.length === 3 && suffix.slice(1) !== 'ib')) throw badSuffix();
  return Math.trunc(size * multiplier);
}

/**
 * Go's strconv.ParseInt(value, 0, 64), as pflag's Int64 flags: an optional sign, then
 * decimal, 0x, 0o, 0b, or a leading 0 for octal, with single underscores between digits
 * or after the prefix (Go's integer literal syntax).
 */
function parseInteger(value: string, flag: string): number {
  const m = /^([+-]?)(0[xX](?:_?[0-9a-fA-F])+|0[oO](?:_?[0-7])+|0[bB](?:_?[01])+|0(?:_?[0-7])*|[1-9](?:_?[0-9])*)$/.exec(value);
  if (m === null) throw invalid(value, flag, `strconv.ParseInt: parsing "${value}": invalid syntax`);
  const [, sign = '', literal = '0'] = m;
  const digits = literal.replaceAll('_', '').toLowerCase();
  const n = BigInt(/^0[0-7]+$/.test(digits) ? `0o${digits.slice(1)}` : digits) * (sign === '-' ? -1n : 1n);
  if (n > 2n ** 63n - 1n || n < -(2n ** 63n)) throw invalid(value, flag, `strconv.ParseInt: parsing "${value}": value out of range`);
  return Number(n);
}

/** --blkio-weight: Go's strconv.ParseUint(value, 0, 16), as pflag's Uint16 flags: no sign. */
function parseUint16(value: string, flag: string): number {
  if (/^[+-]/.test(value)) throw invalid(value, flag, `strconv.ParseUint: parsing "${value}": invalid syntax`);
  let n: number;
  try {
    n = parseInteger(value, flag);
  } catch {
    throw invalid(value, flag, `strconv.ParseUint: parsing "${value}": invalid syntax`);
  }
  if (n > 0xffff) throw invalid(value, flag, `strconv.ParseUint: parsing "${value}": value out of range`);
  return n;
}

/** --memory-swap: a size, or exactly "-1" for unlimited (docker opts.MemSwapBytes). */
function parseSwap(value: string): number {
  return value === '-1' ? -1 : parseBytes(value, '--memory-swap');
}

/**
 * --cpus: a number of CPUs to nano CPUs, as docker's opts.ParseCPUs, which reads a
 * big.Rat: a decimal ("1.5", ".5", "1e-2") or a fraction ("3/2"), refused when it is not
 * a whole number of nano CPUs.
 */
export function parseCpus(value: string): number {
  const fraction = /^([+-]?)(\d+)\/(\d+)$/.exec(value);
  const decimal = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(value);
  let numerator: bigint;
  let denominator: bigint;
  if (fraction !== null && BigInt(fraction[3] ?? '0') !== 0n) {
    numerator = BigInt(`${fraction[1]}${fraction[2]}`) * 1_000_000_000n;
    denominator = BigInt(fraction[3] ?? '1');
  } else if (decimal !== null && `${decimal[2] ?? ''}${decimal[3] ?? ''}` !== '' && Math.abs(Number(decimal[4] ?? '0')) <= 1e6) {
    // Exponents beyond a million big.Rat refuses too. The value is its digits × 10^(exp −
    // the number of decimals); in nano CPUs, × 10^9 more.
    const [, sign = '', whole = '', frac = '', exp = '0'] = decimal;
    const shift = Number(exp) - frac.length + 9;
    const digits = BigInt(`${sign}${whole}${frac}`);
    numerator = shift >= 0 ? digits * 10n ** BigInt(shift) : digits;
    denominator = shift >= 0 ? 1n : 10n ** BigInt(-shift);
  } else {
    throw invalid(value, '--cpus', `failed to parse ${value} as a rational number`, 'Give a number of CPUs such as 1.5');
  }
  if (numerator % denominator !== 0n) throw invalid(value, '--cpus', 'value is too precise', 'Give at most nine decimals');
  return Number(numerator / denominator);
}

/**
 * PATH:RATE of the --device-*-bps (a size) and --device-*-iops (a whole number) flags, with
 * docker's messages (cli opts/throttledevice.go). The rate follows the last colon, so
 * that a path such as /dev/disk/by-path/pci-0000:00:1f.2 can be given, which docker's
 * first-colon split refuses.
 */
function parseThrottle(spec: string, flag: string, bytes: boolean): ThrottleDevice {
  const colon = spec.lastIndexOf(':');
  if (colon <= 0) throw invalid(spec, flag, `bad format: ${spec}`, `Give PATH:RATE, such as /dev/sda:${bytes ? '1mb' : '1000'}`);
  const path = spec.slice(0, colon);
  const text = spec.slice(colon + 1);
  if (!path.startsWith('/dev/')) throw invalid(spec, flag, `bad format for device path: ${spec}`);
  const format = bytes
    ? 'The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb'
    : 'The correct format is <device-path>:<number>. Number must be a positive integer';
  let rate: number;
  try {
    // iops: strconv.ParseUint(v, 10, 64), digits only.
    rate = bytes ? parseBytes(text, flag) : /^\d+$/.test(text) ? Number(text) : Number.NaN;
  } catch {
    rate = Number.NaN;
  }
  if (Number.isNaN(rate)) throw invalid(spec, flag, `invalid rate for device: ${spec}. ${format}`);
  return { Path: path, Rate: rate };
}

/** Go's path.Clean for the absolute paths --device takes. */
function cleanPath(path: string): string {
  const cleaned = posix.normalize(path);
  return cleaned.length > 1 ? cleaned.replace(/\/+$/, '') : cleaned;
}

/** r, w and m, each at most once. */
function isDeviceMode(mode: string): boolean {
  return /^[rwm]{1,3}$/.test(mode) && new Set(mode).size === mode.length;
}

/**
 * --device HOST[:CONTAINER][:PERMISSIONS], as docker's CLI takes it (cli/command/container/
 * opts.go validateLinuxPath, then parseLinuxDevice): at most three parts; a second part
 * that is a mode is the permissions; the container path must be absolute. berth also wants
 * an absolute host path, which docker leaves to the daemon's lookup, and cleans both paths
 * (docker cleans some of them, depending on the form).
 */
export function parseDevice(spec: string): DeviceMapping {
  const parts = spec.split(':');
  const [host = '', second, third] = parts;
  if (parts.length > 3 || host === '') throw new InvalidArgumentError(`bad format for path: ${spec}`, { hint: 'Give --device HOST[:CONTAINER][:PERMISSIONS], such as /dev/sda:/dev/xvdc:r' });
  let container = host;
  let permissions = 'rwm';
  if (third !== undefined) {
    if (!isDeviceMode(third)) throw new InvalidArgumentError(`bad mode specified: ${third}`, { hint: 'Give some of r, w and m, each once' });
    container = second ?? host;
    permissions = third;
  } else if (second !== undefined) {
    if (isDeviceMode(second)) permissions = second;
    else container = second;
  }
  for (const path of [container, host]) {
    if (!path.startsWith('/')) throw new InvalidArgumentError(`${path} is not an absolute path`, { hint: 'Give absolute paths: --device /dev/fuse or --device /dev/sda:/dev/xvdc:r' });
  }
  return { PathOnHost: cleanPath(host), PathInContainer: cleanPath(container), CgroupPermissions: permissions };
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
  if (flags.blkioWeight !== undefined) out.BlkioWeight = parseUint16(flags.blkioWeight, '--blkio-weight');
  if (flags.deviceReadBps !== undefined) out.BlkioDeviceReadBps = flags.deviceReadBps.map((s) => parseThrottle(s, '--device-read-bps', true));
  if (flags.deviceWriteBps !== undefined) out.BlkioDeviceWriteBps = flags.deviceWriteBps.map((s) => parseThrottle(s, '--device-write-bps', true));
  if (flags.deviceReadIops !== undefined) out.BlkioDeviceReadIOps = flags.deviceReadIops.map((s) => parseThrottle(s, '--device-read-iops', false));
  if (flags.deviceWriteIops !== undefined) out.BlkioDeviceWriteIOps = flags.deviceWriteIops.map((s) => parseThrottle(s, '--device-write-iops', false));
  if (flags.device !== undefined) out.Devices = flags.device.map(parseDevice);
  if (flags.deviceCgroupRule !== undefined) out.DeviceCgroupRules = flags.deviceCgroupRule;
  return out;
}
