/**
 * docker's resource checks and their OCI form. Refusal and warning texts are docker's:
 * moby v28.2.2 daemon/daemon_unix.go verifyPlatformContainerResources (quoted per test),
 * pkg/sysinfo/sysinfo_linux.go parseUintList, oci/devices_linux.go; conversions from
 * daemon_unix.go getMemoryResources, getCPUResources, getPidsLimit.
 */
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { BerthError, InvalidArgumentError, NotFoundError } from '../../../common/errors.js';
import {
  checkResources,
  hostDevice,
  noResources,
  normalizeResources,
  ociResources,
  parseCpuList,
  parseDeviceCgroupRule,
  type HostDevice,
  type HostResources,
  type ResourceConfig,
} from '../../../runtime/resources.js';

const MiB = 1024 * 1024;
const host: HostResources = { cpus: 2, cpusetCpus: '0-1', cpusetMems: '0' };
const config = (r: Partial<ResourceConfig>): ResourceConfig => ({ ...noResources, ...r });

/** The message checkResources refuses `r` with, or undefined when it accepts it. */
function refusal(r: Partial<ResourceConfig>, on: HostResources = host): string | undefined {
  try {
    checkResources(config(r), on);
    return undefined;
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return (err as BerthError).message;
  }
}

describe('checkResources refuses what docker refuses, in its words', () => {
  it('accepts no limits at all', () => {
    expect(checkResources(noResources, host)).toEqual([]);
  });

  it('refuses a memory limit under 6MB ("Minimum memory limit allowed is 6MB"), negative ones too', () => {
    expect(refusal({ Memory: 6 * MiB - 1 })).toBe('Minimum memory limit allowed is 6MB');
    expect(refusal({ Memory: -1 })).toBe('Minimum memory limit allowed is 6MB');
    expect(refusal({ Memory: 6 * MiB })).toBeUndefined();
  });

  it('refuses memory+swap below memory, and memory+swap without memory', () => {
    expect(refusal({ Memory: 64 * MiB, MemorySwap: 32 * MiB })).toBe('Minimum memoryswap limit should be larger than memory limit, see usage');
    expect(refusal({ MemorySwap: 64 * MiB })).toBe('You should always set the Memory limit when using Memoryswap limit, see usage');
    expect(refusal({ Memory: 64 * MiB, MemorySwap: 64 * MiB })).toBeUndefined();
    expect(refusal({ Memory: 64 * MiB, MemorySwap: -1 })).toBeUndefined();
    expect(refusal({ MemorySwap: -1 })).toBeUndefined();
    expect(refusal({ Memory: 64 * MiB, MemorySwap: -2 })).toBe('Invalid --memory-swap -2: give a size, or -1 for unlimited');
  });

  it('refuses a reservation under 6MB or above the memory limit', () => {
    expect(refusal({ MemoryReservation: 1 * MiB })).toBe('Minimum memory reservation allowed is 6MB');
    expect(refusal({ Memory: 64 * MiB, MemoryReservation: 128 * MiB })).toBe('Minimum memory limit can not be less than memory reservation limit, see usage');
    expect(refusal({ Memory: 64 * MiB, MemoryReservation: 64 * MiB })).toBeUndefined();
    expect(refusal({ MemoryReservation: 128 * MiB })).toBeUndefined();
    expect(refusal({ MemoryReservation: -1 })).toBe('Invalid --memory-reservation -1: it cannot be negative');
  });

  it('refuses --cpus with --cpu-period or --cpu-quota', () => {
    expect(refusal({ NanoCpus: 5e8, CpuPeriod: 50_000 })).toBe('Conflicting options: Nano CPUs and CPU Period cannot both be set');
    expect(refusal({ NanoCpus: 5e8, CpuQuota: 50_000 })).toBe('Conflicting options: Nano CPUs and CPU Quota cannot both be set');
  });

  it('refuses --cpus beyond the host, and below 0.01 where the kernel would', () => {
    const range = 'Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available';
    expect(refusal({ NanoCpus: 2e9 + 1 })).toBe(range);
    expect(refusal({ NanoCpus: -1e9 })).toBe(range);
    expect(refusal({ NanoCpus: 1e7 - 1 })).toBe(range);
    expect(refusal({ NanoCpus: 3e9 }, { ...host, cpus: 4 })).toBeUndefined();
    expect(refusal({ NanoCpus: 2e9 })).toBeUndefined();
    expect(refusal({ NanoCpus: 1e7 })).toBeUndefined();
  });

  it('refuses a CFS period outside 1ms..1s and a quota under 1ms, but takes -1 as no quota', () => {
    const period = 'CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)';
    expect([refusal({ CpuPeriod: 999 }), refusal({ CpuPeriod: 1_000_001 }), refusal({ CpuPeriod: -5 })]).toEqual([period, period, period]);
    expect([refusal({ CpuPeriod: 1000 }), refusal({ CpuPeriod: 1_000_000 })]).toEqual([undefined, undefined]);
    expect(refusal({ CpuQuota: 999 })).toBe('CPU cfs quota can not be less than 1ms (i.e. 1000)');
    expect([refusal({ CpuQuota: 1000 }), refusal({ CpuQuota: -1 })]).toEqual([undefined, undefined]);
  });

  it('refuses negative CPU shares as docker\'s getCPUResources does', () => {
    expect(refusal({ CpuShares: -1 })).toBe('invalid CPU shares (-1): value must be a positive integer');
  });

  it('refuses cpusets the host does not offer, or cannot parse', () => {
    expect(refusal({ CpusetCpus: '0-1' })).toBeUndefined();
    expect(refusal({ CpusetCpus: '1,0,1' })).toBeUndefined();
    expect(refusal({ CpusetCpus: '2' })).toBe('Requested CPUs are not available - requested 2, available: 0-1');
    expect(refusal({ CpusetCpus: '1-2' })).toBe('Requested CPUs are not available - requested 1-2, available: 0-1');
    expect(refusal({ CpusetMems: '1' })).toBe('Requested memory nodes are not available - requested 1, available: 0');
    expect(refusal({ CpusetCpus: '0-a' })).toBe('Invalid value 0-a for cpuset cpus: invalid format: 0-a');
    expect(refusal({ CpusetCpus: '1-0' })).toBe('Invalid value 1-0 for cpuset cpus: invalid format: 1-0');
    expect(refusal({ CpusetMems: '0,' })).toBe('Invalid value 0, for cpuset mems: invalid format: 0,');
    // CVE-2018-20699: no huge ranges ("of out range" is docker's spelling).
    expect(refusal({ CpusetCpus: '0-9223372036854775807' })).toBe('Invalid value 0-9223372036854775807 for cpuset cpus: value of out range, maximum is 8192');
    expect(refusal({ CpusetCpus: '8193' })).toBe('Invalid value 8193 for cpuset cpus: value of out range, maximum is 8192');
    expect(refusal({ CpusetCpus: '8192' })).toBe('Requested CPUs are not available - requested 8192, available: 0-1');
  });

  it('refuses a blkio weight outside 10..1000', () => {
    expect([refusal({ BlkioWeight: 9 }), refusal({ BlkioWeight: 1001 })]).toEqual(['Range of blkio weight is from 10 to 1000', 'Range of blkio weight is from 10 to 1000']);
    expect([refusal({ BlkioWeight: 10 }), refusal({ BlkioWeight: 1000 })]).toEqual([undefined, undefined]);
  });

  it('refuses a device cgroup rule docker\'s CLI would not take', () => {
    expect(refusal({ DeviceCgroupRules: ['c 1:3 r', 'x 1:2 rwm'] })).toBe("invalid device cgroup format 'x 1:2 rwm'");
  });
});

describe('checkResources warns where docker warns', () => {
  it('warns that kernel memory limits are deprecated', () => {
    expect(checkResources(config({ KernelMemory: 64 * MiB }), host)).toEqual(['Specifying a kernel memory limit is deprecated and will be removed in a future release.']);
  });

  it('warns about disabling the OOM killer without a memory limit, not with one', () => {
    expect(checkResources(config({ OomKillDisable: true }), host)).toEqual([
      'OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.',
    ]);
    expect(checkResources(config({ OomKillDisable: true, Memory: 64 * MiB }), host)).toEqual([]);
  });
});

describe('normalizeResources', () => {
  it('allows as much swap again as memory when --memory-swap is not given (moby adaptContainerSettings)', () => {
    expect(normalizeResources(config({ Memory: 64 * MiB })).MemorySwap).toBe(128 * MiB);
    expect(normalizeResources(config({ Memory: 64 * MiB, MemorySwap: -1 })).MemorySwap).toBe(-1);
    expect(normalizeResources(config({ Memory: 64 * MiB, MemorySwap: 96 * MiB })).MemorySwap).toBe(96 * MiB);
    expect(normalizeResources(noResources)).toBe(noResources);
  });
});

/** A device table standing in for the host's /dev. */
const devices: Readonly<Record<string, HostDevice>> = {
  '/dev/sda': { type: 'b', major: 8, minor: 0, mode: 0o660, uid: 0, gid: 6 },
  '/dev/sdb': { type: 'b', major: 8, minor: 16, mode: 0o660, uid: 0, gid: 6 },
  '/dev/fuse': { type: 'c', major: 10, minor: 229, mode: 0o666, uid: 0, gid: 0 },
};
function lookup(path: string, flag: string): HostDevice {
  const d = devices[path];
  if (d === undefined) throw new NotFoundError(`Invalid ${flag}: no ${path}`);
  return d;
}

describe('ociResources', () => {
  it('gives nothing for no limits', () => {
    expect(ociResources(noResources, lookup)).toEqual({ resources: {}, devices: [] });
  });

  it('turns memory limits into OCI memory, swap at twice the memory by default', () => {
    expect(ociResources(config({ Memory: 64 * MiB, MemoryReservation: 32 * MiB, OomKillDisable: true }), lookup).resources).toEqual({
      memory: { limit: 64 * MiB, reservation: 32 * MiB, swap: 128 * MiB, disableOOMKiller: true },
    });
    expect(ociResources(config({ Memory: 64 * MiB, MemorySwap: -1 }), lookup).resources.memory).toEqual({ limit: 64 * MiB, swap: -1 });
    // --kernel-memory is ignored.
    expect(ociResources(config({ KernelMemory: 64 * MiB }), lookup).resources).toEqual({});
  });

  it('turns --cpus into a quota over a 100 ms period, truncated as docker\'s integer arithmetic', () => {
    expect(ociResources(config({ NanoCpus: 1.5e9 }), lookup).resources.cpu).toEqual({ period: 100_000, quota: 150_000 });
    expect(ociResources(config({ NanoCpus: 1e7 }), lookup).resources.cpu).toEqual({ period: 100_000, quota: 1000 });
    // 1.000015 CPUs: 1000015000 × 100000 / 1e9 = 100001.5 → 100001.
    expect(ociResources(config({ NanoCpus: 1_000_015_000 }), lookup).resources.cpu).toEqual({ period: 100_000, quota: 100_001 });
  });

  it('passes period, quota, cpusets through, and clamps shares to the kernel\'s 2..262144', () => {
    expect(ociResources(config({ CpuPeriod: 50_000, CpuQuota: -1, CpusetCpus: '0', CpusetMems: '0', CpuShares: 512 }), lookup).resources.cpu).toEqual({
      shares: 512, period: 50_000, quota: -1, cpus: '0', mems: '0',
    });
    expect(ociResources(config({ CpuShares: 1 }), lookup).resources.cpu).toEqual({ shares: 2 });
    expect(ociResources(config({ CpuShares: 300_000 }), lookup).resources.cpu).toEqual({ shares: 262_144 });
  });

  it('sends a pids limit, and 0 or -1 as -1 (moby getPidsLimit), nothing when unset', () => {
    expect(ociResources(config({ PidsLimit: 100 }), lookup).resources.pids).toEqual({ limit: 100 });
    expect(ociResources(config({ PidsLimit: 0 }), lookup).resources.pids).toEqual({ limit: -1 });
    expect(ociResources(config({ PidsLimit: -1 }), lookup).resources.pids).toEqual({ limit: -1 });
    expect(ociResources(config({ PidsLimit: null }), lookup).resources.pids).toBeUndefined();
  });

  it('looks up throttled block devices by path', () => {
    const r = config({
      BlkioWeight: 300,
      BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: MiB }],
      BlkioDeviceWriteBps: [{ Path: '/dev/sdb', Rate: 2 * MiB }],
      BlkioDeviceReadIOps: [{ Path: '/dev/sda', Rate: 100 }],
      BlkioDeviceWriteIOps: [{ Path: '/dev/sda', Rate: 200 }, { Path: '/dev/sdb', Rate: 0 }],
    });
    expect(ociResources(r, lookup).resources.blockIO).toEqual({
      weight: 300,
      throttleReadBpsDevice: [{ major: 8, minor: 0, rate: MiB }],
      throttleWriteBpsDevice: [{ major: 8, minor: 16, rate: 2 * MiB }],
      throttleReadIOPSDevice: [{ major: 8, minor: 0, rate: 100 }],
      throttleWriteIOPSDevice: [{ major: 8, minor: 0, rate: 200 }, { major: 8, minor: 16, rate: 0 }],
    });
  });

  it('refuses to throttle what is not a block device, naming the flag', () => {
    expect(() => ociResources(config({ BlkioDeviceReadIOps: [{ Path: '/dev/fuse', Rate: 1 }] }), lookup)).toThrowError('Invalid --device-read-iops: "/dev/fuse" is not a block device');
    expect(() => ociResources(config({ BlkioDeviceWriteBps: [{ Path: '/dev/nope', Rate: 1 }] }), lookup)).toThrowError('Invalid --device-write-bps: no /dev/nope');
  });

  it('adds --device nodes to the container and allows them in the device cgroup, then the --device-cgroup-rule rules', () => {
    const r = config({
      Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }, { PathOnHost: '/dev/sda', PathInContainer: '/dev/xvdc', CgroupPermissions: 'r' }],
      DeviceCgroupRules: ['c 1:3 rw', 'b *:* m'],
    });
    expect(ociResources(r, lookup)).toEqual({
      resources: {
        devices: [
          { allow: true, type: 'c', major: 10, minor: 229, access: 'rwm' },
          { allow: true, type: 'b', major: 8, minor: 0, access: 'r' },
          { allow: true, type: 'c', major: 1, minor: 3, access: 'rw' },
          { allow: true, type: 'b', access: 'm' },
        ],
      },
      devices: [
        { type: 'c', path: '/dev/fuse', major: 10, minor: 229, fileMode: 0o666, uid: 0, gid: 0 },
        { type: 'b', path: '/dev/xvdc', major: 8, minor: 0, fileMode: 0o660, uid: 0, gid: 6 },
      ],
    });
  });
});

describe('parseDeviceCgroupRule', () => {
  it('reads docker\'s TYPE MAJOR:MINOR ACCESS, * for any number', () => {
    expect(parseDeviceCgroupRule('c 1:3 rwm')).toEqual({ allow: true, type: 'c', access: 'rwm', major: 1, minor: 3 });
    expect(parseDeviceCgroupRule('a *:* rwm')).toEqual({ allow: true, type: 'a', access: 'rwm' });
    expect(parseDeviceCgroupRule('b 8:* mr')).toEqual({ allow: true, type: 'b', access: 'mr', major: 8 });
  });

  it('refuses what docker\'s CLI regexp refuses, spaces around included', () => {
    // Checked against docker 28.2.2: each is "invalid device cgroup format '...'".
    for (const rule of ['a', 'c 1:3', 'c 1:3 rwmr', 'x 1:2 rwm', ' c 1:3 r', 'c 1:3 r ', 'c  1:3 r', 'c 1:3 rx', 'c -1:3 r']) {
      expect(() => parseDeviceCgroupRule(rule), rule).toThrowError(`invalid device cgroup format '${rule}'`);
    }
  });
});

describe('parseCpuList', () => {
  it('reads lists and ranges, ascending and each once, as docker\'s parseUintList', () => {
    expect(parseCpuList('0-3,7', 'cpuset cpus')).toEqual([0, 1, 2, 3, 7]);
    expect(parseCpuList('3,2,1', 'cpuset cpus')).toEqual([1, 2, 3]);
    expect(parseCpuList('0-2,1,0-0', 'cpuset cpus')).toEqual([0, 1, 2]);
    expect(parseCpuList('03,1-3', 'cpuset cpus')).toEqual([1, 2, 3]);
    expect(parseCpuList('0-3\n', 'the online CPUs')).toEqual([0, 1, 2, 3]);
  });

  it('refuses malformed lists and values past the maximum', () => {
    for (const list of ['', ',', '1,', 'a', '1-', '-1', '3-1', '1 ,2']) {
      expect(() => parseCpuList(list, 'cpuset cpus'), list).toThrowError(`Invalid value ${list} for cpuset cpus: invalid format: ${list}`);
    }
    expect(() => parseCpuList('4-5', 'cpuset mems', { maximum: 4 })).toThrowError('Invalid value 4-5 for cpuset mems: value of out range, maximum is 4');
  });
});

describe('hostDevice', () => {
  it('reads the type and numbers of a device node', () => {
    expect(hostDevice('/dev/null', '--device')).toMatchObject({ type: 'c', major: 1, minor: 3 });
  });

  it('says what is wrong with a path that is not a device node', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-hostdevice-'));
    try {
      writeFileSync(join(dir, 'file'), '');
      expect(() => hostDevice(join(dir, 'file'), '--device')).toThrowError(`Invalid --device: "${join(dir, 'file')}" is not a device node`);
      expect(() => hostDevice(join(dir, 'gone'), '--device-read-bps')).toThrowError(NotFoundError);
      expect(() => hostDevice(join(dir, 'gone'), '--device-read-bps')).toThrowError(
        `Invalid --device-read-bps: error gathering device information while adding custom device "${join(dir, 'gone')}": no such file or directory`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
