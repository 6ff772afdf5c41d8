/**
 * OCI `linux.resources` as cgroup control-file writes, v1 and v2, and the value conversions
 * between them. Expected values come from runc's own code and tests (opencontainers/cgroups
 * at 30a2293: fs/*.go, fs2/*.go, utils.go, utils_test.go), cited per test.
 */
import { describe, expect, it } from 'vitest';
import { blkioWeightToIoWeight, sharesToWeight, v1Writes, v2SwapMax, v2Writes } from '../../../cgroups/index.js';
import { InvalidArgumentError } from '../../../common/errors.js';
import type { LinuxResources } from '../../../oci/index.js';

const MiB = 1024 * 1024;

/** What `docker run -m 64m --memory-swap 128m --memory-reservation 32m -c 512 --cpus 0.5 ...` becomes. */
const full: LinuxResources = {
  memory: { limit: 64 * MiB, swap: 128 * MiB, reservation: 32 * MiB },
  cpu: { shares: 512, period: 100_000, quota: 50_000, cpus: '0-1', mems: '0' },
  pids: { limit: 20 },
  blockIO: {
    weight: 500,
    throttleReadBpsDevice: [{ major: 8, minor: 0, rate: MiB }],
    throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
  },
  hugepageLimits: [{ pageSize: '2MB', limit: 1024 * MiB }],
};

describe('v1Writes', () => {
  it('names each v1 file and value, the memory limit before memory+swap and the period before the quota', () => {
    expect(v1Writes(full)).toEqual([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: '67108864' },
      { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: '134217728' },
      { controller: 'memory', file: 'memory.soft_limit_in_bytes', value: '33554432' },
      { controller: 'cpu', file: 'cpu.shares', value: '512' },
      { controller: 'cpu', file: 'cpu.cfs_period_us', value: '100000' },
      { controller: 'cpu', file: 'cpu.cfs_quota_us', value: '50000' },
      { controller: 'cpuset', file: 'cpuset.cpus', value: '0-1' },
      { controller: 'cpuset', file: 'cpuset.mems', value: '0' },
      { controller: 'pids', file: 'pids.max', value: '20' },
      { controller: 'blkio', file: 'blkio.weight', value: '500' },
      { controller: 'blkio', file: 'blkio.throttle.read_bps_device', value: '8:0 1048576' },
      { controller: 'blkio', file: 'blkio.throttle.write_iops_device', value: '8:0 100' },
      { controller: 'hugetlb', file: 'hugetlb.2MB.limit_in_bytes', value: '1073741824' },
    ]);
  });

  it('uses the bare cpuset file names of a noprefix mount', () => {
    expect(v1Writes({ cpu: { cpus: '3', mems: '1' } }, { cpusetPrefix: '' })).toEqual([
      { controller: 'cpuset', file: 'cpus', value: '3' },
      { controller: 'cpuset', file: 'mems', value: '1' },
    ]);
  });

  it('writes nothing for values that mean "unset": 0 and empty lists (runc fs/memory.go setMemory, setSwap; fs/cpu.go)', () => {
    expect(v1Writes({})).toEqual([]);
    expect(v1Writes({ memory: { limit: 0, swap: 0, reservation: 0 }, cpu: { shares: 0, period: 0, quota: 0, cpus: '', mems: '' }, blockIO: { weight: 0 } })).toEqual([]);
  });

  it('keeps -1, "unlimited", for memory and memory+swap (v1 takes -1)', () => {
    expect(v1Writes({ memory: { limit: -1, swap: -1 } })).toEqual([
      { controller: 'memory', file: 'memory.limit_in_bytes', value: '-1' },
      { controller: 'memory', file: 'memory.memsw.limit_in_bytes', value: '-1' },
    ]);
  });

  it('writes a positive pids limit as is, 0 as 1 and a negative one as max (runc fs/pids.go)', () => {
    const pidsMax = (limit: number): string | undefined => v1Writes({ pids: { limit } }).find((w) => w.file === 'pids.max')?.value;
    expect([pidsMax(20), pidsMax(1), pidsMax(0), pidsMax(-1), pidsMax(-5)]).toEqual(['20', '1', '1', 'max', 'max']);
  });

  it('switches the OOM killer in memory.oom_control and writes swappiness', () => {
    expect(v1Writes({ memory: { disableOOMKiller: true, swappiness: 0 } })).toEqual([
      { controller: 'memory', file: 'memory.swappiness', value: '0' },
      { controller: 'memory', file: 'memory.oom_control', value: '1' },
    ]);
    expect(v1Writes({ memory: { disableOOMKiller: false } })).toEqual([{ controller: 'memory', file: 'memory.oom_control', value: '0' }]);
  });

  it('writes per-device weights and every throttle, one line per device (runc fs/blkio.go)', () => {
    const writes = v1Writes({
      blockIO: {
        weightDevice: [{ major: 8, minor: 0, weight: 300 }, { major: 8, minor: 16, leafWeight: 200 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 1000 }, { major: 8, minor: 16, rate: 0 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 2000 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 30 }],
        throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 40 }],
      },
    });
    expect(writes.map((w) => `${w.file} ${w.value}`)).toEqual([
      'blkio.weight_device 8:0 300',
      'blkio.throttle.read_bps_device 8:0 1000',
      // v1 takes 0 as "no limit".
      'blkio.throttle.read_bps_device 8:16 0',
      'blkio.throttle.write_bps_device 8:0 2000',
      'blkio.throttle.read_iops_device 8:0 30',
      'blkio.throttle.write_iops_device 8:0 40',
    ]);
  });
});

describe('v2Writes', () => {
  it('names each cgroup v2 file and value for the same limits', () => {
    expect(v2Writes(full)).toEqual([
      { controller: 'memory', file: 'memory.low', value: '33554432' },
      { controller: 'memory', file: 'memory.max', value: '67108864' },
      // memory+swap 128 MiB over memory 64 MiB: 64 MiB of swap.
      { controller: 'memory', file: 'memory.swap.max', value: '67108864' },
      { controller: 'cpu', file: 'cpu.weight', value: '59' },
      { controller: 'cpu', file: 'cpu.max', value: '50000 100000' },
      { controller: 'cpuset', file: 'cpuset.cpus', value: '0-1' },
      { controller: 'cpuset', file: 'cpuset.mems', value: '0' },
      { controller: 'pids', file: 'pids.max', value: '20' },
      // blkio weight 500 → 1 + 490 × 9999 / 990 = 4950.
      { controller: 'io', file: 'io.weight', value: 'default 4950' },
      // One io.max line per device with all its limits.
      { controller: 'io', file: 'io.max', value: '8:0 rbps=1048576 wiops=100' },
      { controller: 'hugetlb', file: 'hugetlb.2MB.max', value: '1073741824' },
    ]);
  });

  it('writes cpu.max as runc fs2/cpu.go: "max" without a quota, the 100 ms default period without a period', () => {
    const cpuMax = (cpu: LinuxResources['cpu']): string | undefined => v2Writes({ ...(cpu === undefined ? {} : { cpu }) }).find((w) => w.file === 'cpu.max')?.value;
    expect(cpuMax({ quota: 25_000 })).toBe('25000 100000');
    expect(cpuMax({ period: 50_000 })).toBe('max 50000');
    expect(cpuMax({ quota: -1, period: 20_000 })).toBe('max 20000');
    expect(cpuMax({ quota: 0, period: 0 })).toBeUndefined();
    expect(cpuMax({ shares: 1024 })).toBeUndefined();
  });

  it('writes a pids limit of 0 as 1 and a negative one as max (runc fs2/pids.go)', () => {
    const pidsMax = (limit: number): string | undefined => v2Writes({ pids: { limit } }).find((w) => w.file === 'pids.max')?.value;
    expect([pidsMax(7), pidsMax(0), pidsMax(-1)]).toEqual(['7', '1', 'max']);
  });

  it('lifts swap with an unlimited memory limit, and writes no memory file for 0', () => {
    expect(v2Writes({ memory: { limit: -1 } })).toEqual([
      { controller: 'memory', file: 'memory.max', value: 'max' },
      { controller: 'memory', file: 'memory.swap.max', value: 'max' },
    ]);
    expect(v2Writes({ memory: { limit: 0, reservation: 0, swap: 0 } })).toEqual([]);
  });

  it('has no OOM-killer switch and writes nothing for it', () => {
    expect(v2Writes({ memory: { disableOOMKiller: true } })).toEqual([]);
  });

  it('lists each device once in io.max, first seen first, keys in runc\'s order (rbps wbps riops wiops), a rate of 0 as max', () => {
    const writes = v2Writes({
      blockIO: {
        throttleWriteIOPSDevice: [{ major: 8, minor: 16, rate: 5 }],
        throttleReadBpsDevice: [{ major: 8, minor: 0, rate: 0 }, { major: 8, minor: 16, rate: 10 }],
        throttleWriteBpsDevice: [{ major: 8, minor: 0, rate: 20 }],
        throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 30 }],
      },
    });
    expect(writes).toEqual([
      { controller: 'io', file: 'io.max', value: '8:0 rbps=max wbps=20 riops=30' },
      { controller: 'io', file: 'io.max', value: '8:16 rbps=10 wiops=5' },
    ]);
  });

  it('converts per-device blkio weights to io.weight lines', () => {
    expect(v2Writes({ blockIO: { weightDevice: [{ major: 253, minor: 1, weight: 1000 }] } })).toEqual([
      { controller: 'io', file: 'io.weight', value: '253:1 10000' },
    ]);
  });

  it('refuses memory+swap below memory, or without memory, as runc does', () => {
    expect(() => v2Writes({ memory: { limit: 64 * MiB, swap: 32 * MiB } })).toThrowError(InvalidArgumentError);
    expect(() => v2Writes({ memory: { swap: 32 * MiB } })).toThrowError(InvalidArgumentError);
  });
});

describe('v2SwapMax', () => {
  // runc's table, TestConvertMemorySwapToCgroupV2Value (utils_test.go), plus the fs2/memory.go
  // rule that 0 is not written and memory+swap equal to memory writes "0".
  const cases: [string, number | undefined, number | undefined, string | undefined][] = [
    ['all unset', 0, 0, undefined],
    ['nothing given', undefined, undefined, undefined],
    ['unlimited memory+swap, unset memory', 0, -1, 'max'],
    ['unlimited memory', -1, 300, '300'],
    ['all unlimited', -1, -1, 'max'],
    ['unlimited memory, swap unset', -1, 0, 'max'],
    ['unlimited memory+swap, set memory', 1000, -1, 'max'],
    ['memory+swap == memory', 1000, 1000, '0'],
    ['memory+swap > memory', 200, 500, '300'],
  ];
  it.each(cases)('%s: memory %s, memory+swap %s → %s', (_, limit, swap, expected) => {
    expect(v2SwapMax(limit, swap)).toBe(expected);
  });

  it.each([
    ['negative memory+swap', 0, -2],
    ['memory+swap < memory', 400, 300],
    ['unset memory', 0, 300],
    ['negative memory', -300, 300],
  ] as const)('refuses %s', (_, limit, swap) => {
    expect(() => v2SwapMax(limit, swap)).toThrowError(InvalidArgumentError);
  });
});

describe('sharesToWeight', () => {
  it('maps the v1 range onto the v2 range with default to default (runc TestConvertCPUSharesToCgroupV2Value)', () => {
    const cases: [number, number][] = [
      [0, 0], // unset
      [1, 1], // below the minimum
      [2, 1], // minimum
      [3, 2], // just above the minimum
      [1024, 100], // default to default
      [262_143, 10_000], // just below the maximum
      [262_144, 10_000], // maximum
      [262_145, 10_000], // above the maximum
    ];
    for (const [shares, weight] of cases) expect(sharesToWeight(shares), `shares ${shares}`).toBe(weight);
  });

  it('rounds up 10^((l² + 125 l) / 612 − 7/34), l = log2(shares), between the ends', () => {
    // 512: l = 9, exponent = (81 + 1125) / 612 − 7/34 = 1.76470..., 10^that = 58.2 → 59.
    expect(sharesToWeight(512)).toBe(59);
    // 2048: l = 11, exponent = 2.23856..., 10^that = 173.2 → 174.
    expect(sharesToWeight(2048)).toBe(174);
    // 102 (docker's share of 0.1 CPU in some tools): 10^1.22970 = 16.97 → 17.
    expect(sharesToWeight(102)).toBe(17);
  });

  it('never leaves cgroup v2\'s 1..10000 range and grows with the shares', () => {
    let previous = 0;
    for (let shares = 2; shares <= 262_144; shares = Math.ceil(shares * 1.1)) {
      const weight = sharesToWeight(shares);
      expect(weight).toBeGreaterThanOrEqual(Math.max(previous, 1));
      expect(weight).toBeLessThanOrEqual(10_000);
      previous = weight;
    }
  });
});

describe('blkioWeightToIoWeight', () => {
  it('maps 10..1000 linearly onto 1..10000 (runc TestConvertBlkIOToIOWeightValue)', () => {
    expect([0, 10, 1000].map(blkioWeightToIoWeight)).toEqual([0, 1, 10_000]);
    // 1 + (500 − 10) × 9999 / 990 = 4950; 1 + (100 − 10) × 9999 / 990 = 910.0 → 910.
    expect([500, 100, 11].map(blkioWeightToIoWeight)).toEqual([4950, 910, 11]);
  });
});
