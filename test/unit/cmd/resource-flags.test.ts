/**
 * docker's resource flags parsed as docker's CLI parses them. Expected values and messages
 * were checked against the docker 28.2.2 CLI on this machine (flag errors come before it
 * needs a daemon: `docker create -m 1ki busybox` → `invalid argument "1ki" for "-m,
 * --memory" flag: invalid suffix: 'ki'`), and its sources: docker/go-units v0.5.0 size.go,
 * docker/cli opts/opts.go (MemBytes, MemSwapBytes, ParseCPUs), opts/throttledevice.go,
 * cli/command/container/opts.go (validateLinuxPath, parseLinuxDevice). berth names the
 * flag by its long name only ("--memory" where docker says "-m, --memory").
 */
import { describe, expect, it } from 'vitest';
import { parseBytes, parseCpus, parseDevice, resourceChanges } from '../../../cmd/resource-flags.js';
import { InvalidArgumentError } from '../../../common/errors.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;

describe('parseBytes (units.RAMInBytes)', () => {
  it('reads 1024-based units in any case, with an optional b or ib, and an optional space', () => {
    const cases: [string, number][] = [
      ['512', 512], ['0', 0], ['1b', 1], ['1B', 1], ['1k', KiB], ['1K', KiB], ['1kb', KiB], ['1KiB', KiB], ['1kib', KiB],
      ['64m', 64 * MiB], ['64M', 64 * MiB], ['64mb', 64 * MiB], ['64MiB', 64 * MiB], ['1g', GiB], ['1GiB', GiB], ['1 GiB', GiB], ['1 k', KiB],
      ['2t', 2 * 1024 * GiB], ['1p', 1024 ** 5],
    ];
    for (const [text, bytes] of cases) expect(parseBytes(text, '--memory'), text).toBe(bytes);
  });

  it('takes decimals and exponents as Go\'s ParseFloat does, truncated to whole bytes', () => {
    const cases: [string, number][] = [['1.5g', 1.5 * GiB], ['.5g', GiB / 2], ['5.g', 5 * GiB], ['0.1k', 102], ['1e3', 1000], ['1e3k', 1000 * KiB], ['2.9', 2]];
    for (const [text, bytes] of cases) expect(parseBytes(text, '--memory'), text).toBe(bytes);
  });

  it('refuses what go-units refuses, with its message', () => {
    const cases: [string, string][] = [
      ['x', "invalid size: 'x'"],
      ['inf', "invalid size: 'inf'"],
      ['-1', "invalid size: '-1'"],
      ['', "invalid size: ''"],
      ['1x', "invalid suffix: 'x'"],
      ['1ki', "invalid suffix: 'ki'"],
      ['1ib', "invalid suffix: 'ib'"],
      ['1i', "invalid suffix: 'i'"],
      ['1bb', "invalid suffix: 'bb'"],
      ['1mbb', "invalid suffix: 'mbb'"],
      // Too long, reported before lowercasing.
      ['1KIBB', "invalid suffix: 'KIBB'"],
      ['64m ', 'strconv.ParseFloat: parsing "64m": invalid syntax'],
      [' 64m', 'strconv.ParseFloat: parsing " 64": invalid syntax'],
      ['1  k', 'strconv.ParseFloat: parsing "1 ": invalid syntax'],
      ['0x10', 'strconv.ParseFloat: parsing "0x10": invalid syntax'],
      ['1..5', 'strconv.ParseFloat: parsing "1..5": invalid syntax'],
    ];
    for (const [text, reason] of cases) {
      expect(() => parseBytes(text, '--memory'), text).toThrowError(InvalidArgumentError);
      expect(() => parseBytes(text, '--memory'), text).toThrowError(`invalid argument "${text}" for "--memory" flag: ${reason}`);
    }
  });
});

describe('parseCpus (opts.ParseCPUs)', () => {
  it('reads decimals, exponents and fractions into nano CPUs', () => {
    const cases: [string, number][] = [
      ['1', 1e9], ['1.5', 1.5e9], ['0.5', 5e8], ['.5', 5e8], ['5.', 5e9], ['0.01', 1e7], ['1e-2', 1e7], ['3/2', 1.5e9], ['+1', 1e9],
      ['0.000000001', 1], ['0.0000000010', 1], ['-1', -1e9], ['0', 0], ['2.000000000', 2e9],
    ];
    for (const [text, nano] of cases) expect(parseCpus(text), text).toBe(nano);
  });

  it('refuses more than nine decimals ("value is too precise")', () => {
    expect(() => parseCpus('0.0000000001')).toThrowError('invalid argument "0.0000000001" for "--cpus" flag: value is too precise');
    expect(() => parseCpus('1/3')).toThrowError('value is too precise');
  });

  it('refuses what is not a rational number', () => {
    for (const text of ['abc', '1/0', ' 1', '', '.', '1.5.1', '1,5', '1e']) {
      expect(() => parseCpus(text), text).toThrowError(`invalid argument "${text}" for "--cpus" flag: failed to parse ${text} as a rational number`);
    }
  });
});

describe('parseDevice (--device)', () => {
  it('reads HOST, HOST:CONTAINER, HOST:PERMISSIONS and HOST:CONTAINER:PERMISSIONS', () => {
    expect(parseDevice('/dev/fuse')).toEqual({ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' });
    expect(parseDevice('/dev/sda:/dev/xvdc')).toEqual({ PathOnHost: '/dev/sda', PathInContainer: '/dev/xvdc', CgroupPermissions: 'rwm' });
    expect(parseDevice('/dev/sda:r')).toEqual({ PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'r' });
    expect(parseDevice('/dev/sda:mw')).toEqual({ PathOnHost: '/dev/sda', PathInContainer: '/dev/sda', CgroupPermissions: 'mw' });
    expect(parseDevice('/dev/sda:/dev/xvdc:rw')).toEqual({ PathOnHost: '/dev/sda', PathInContainer: '/dev/xvdc', CgroupPermissions: 'rw' });
  });

  it('cleans the paths', () => {
    expect(parseDevice('/dev//sda/:/dev/./xvdc/')).toEqual({ PathOnHost: '/dev/sda', PathInContainer: '/dev/xvdc', CgroupPermissions: 'rwm' });
  });

  it('takes a second part that is not a mode for the container path, so it must be absolute', () => {
    // "rr" and "rx" are not modes (each letter once, only r, w, m).
    expect(() => parseDevice('/dev/sda:rr')).toThrowError('rr is not an absolute path');
    expect(() => parseDevice('/dev/sda:rx')).toThrowError('rx is not an absolute path');
  });

  it('refuses other forms with docker\'s messages', () => {
    expect(() => parseDevice('/dev/sda:/dev/xvdc:rx')).toThrowError('bad mode specified: rx');
    expect(() => parseDevice('/dev/sda:/dev/xvdc:')).toThrowError('bad mode specified: ');
    expect(() => parseDevice('/a:/b:r:w')).toThrowError('bad format for path: /a:/b:r:w');
    expect(() => parseDevice(':/dev/xvdc')).toThrowError('bad format for path: :/dev/xvdc');
    expect(() => parseDevice('')).toThrowError('bad format for path: ');
    expect(() => parseDevice('/dev/sda:dev/xvdc')).toThrowError('dev/xvdc is not an absolute path');
    // berth wants an absolute host path too (docker would fail later, looking it up).
    expect(() => parseDevice('sda:/dev/xvdc')).toThrowError('sda is not an absolute path');
    expect(() => parseDevice('sda')).toThrowError(InvalidArgumentError);
  });
});

describe('resourceChanges', () => {
  it('sets only the limits given', () => {
    expect(resourceChanges({})).toEqual({});
    expect(resourceChanges({ memory: '64m' })).toEqual({ Memory: 64 * MiB });
  });

  it('parses every flag to docker\'s HostConfig field', () => {
    expect(resourceChanges({
      memory: '1g', memorySwap: '2g', memoryReservation: '512m', kernelMemory: '50m', oomKillDisable: true, cpus: '1.5', cpuShares: '512',
      cpuPeriod: '50000', cpuQuota: '25000', cpusetCpus: '0-1', cpusetMems: '0', pidsLimit: '100', blkioWeight: '300',
      deviceReadBps: ['/dev/sda:1mb'], deviceWriteBps: ['/dev/sda:2m', '/dev/sdb:1.5k'], deviceReadIops: ['/dev/sda:1000'], deviceWriteIops: ['/dev/sda:0'],
      device: ['/dev/fuse'], deviceCgroupRule: ['c 1:3 rwm'],
    })).toEqual({
      Memory: GiB, MemorySwap: 2 * GiB, MemoryReservation: 512 * MiB, KernelMemory: 50 * MiB, OomKillDisable: true, NanoCpus: 1.5e9, CpuShares: 512,
      CpuPeriod: 50_000, CpuQuota: 25_000, CpusetCpus: '0-1', CpusetMems: '0', PidsLimit: 100, BlkioWeight: 300,
      BlkioDeviceReadBps: [{ Path: '/dev/sda', Rate: MiB }],
      BlkioDeviceWriteBps: [{ Path: '/dev/sda', Rate: 2 * MiB }, { Path: '/dev/sdb', Rate: 1536 }],
      BlkioDeviceReadIOps: [{ Path: '/dev/sda', Rate: 1000 }],
      BlkioDeviceWriteIOps: [{ Path: '/dev/sda', Rate: 0 }],
      Devices: [{ PathOnHost: '/dev/fuse', PathInContainer: '/dev/fuse', CgroupPermissions: 'rwm' }],
      DeviceCgroupRules: ['c 1:3 rwm'],
    });
  });

  it('takes exactly "-1" for unlimited swap (opts.MemSwapBytes), and sizes otherwise', () => {
    expect(resourceChanges({ memorySwap: '-1' })).toEqual({ MemorySwap: -1 });
    expect(resourceChanges({ memorySwap: '0' })).toEqual({ MemorySwap: 0 });
    expect(() => resourceChanges({ memorySwap: ' -1' })).toThrowError('invalid argument " -1" for "--memory-swap" flag: strconv.ParseFloat: parsing " -1": invalid syntax');
    expect(() => resourceChanges({ memorySwap: '-2' })).toThrowError('invalid argument "-2" for "--memory-swap" flag: invalid size: \'-2\'');
  });

  it('takes --pids-limit 0 and negatives as unlimited (-1)', () => {
    expect([resourceChanges({ pidsLimit: '0' }), resourceChanges({ pidsLimit: '-1' }), resourceChanges({ pidsLimit: '-5' })]).toEqual([
      { PidsLimit: -1 }, { PidsLimit: -1 }, { PidsLimit: -1 },
    ]);
    expect(() => resourceChanges({ pidsLimit: '1.5' })).toThrowError('invalid argument "1.5" for "--pids-limit" flag: strconv.ParseInt: parsing "1.5": invalid syntax');
  });

  it('reads whole-number flags as Go\'s ParseInt with base 0, as pflag does', () => {
    expect(resourceChanges({ cpuShares: '0x10' })).toEqual({ CpuShares: 16 });
    expect(resourceChanges({ cpuShares: '010' })).toEqual({ CpuShares: 8 });
    expect(resourceChanges({ cpuShares: '0b11' })).toEqual({ CpuShares: 3 });
    expect(resourceChanges({ cpuShares: '+5' })).toEqual({ CpuShares: 5 });
    expect(resourceChanges({ cpuShares: '0O17' })).toEqual({ CpuShares: 15 });
    expect(resourceChanges({ cpuShares: '0X1f' })).toEqual({ CpuShares: 31 });
    // Go's literal syntax: single underscores between digits, or after the prefix.
    expect(resourceChanges({ cpuShares: '1_000' })).toEqual({ CpuShares: 1000 });
    expect(resourceChanges({ cpuShares: '0_10' })).toEqual({ CpuShares: 8 });
    expect(resourceChanges({ cpuShares: '0x_10' })).toEqual({ CpuShares: 16 });
    expect(resourceChanges({ cpuQuota: '-1' })).toEqual({ CpuQuota: -1 });
    expect(resourceChanges({ cpuPeriod: '0' })).toEqual({ CpuPeriod: 0 });
    for (const text of ['abc', '1.5', '', '09', '1__0', '1_', '_1', ' 1', '0x']) {
      expect(() => resourceChanges({ cpuShares: text }), text).toThrowError(`invalid argument "${text}" for "--cpu-shares" flag: strconv.ParseInt: parsing "${text}": invalid syntax`);
    }
    expect(() => resourceChanges({ cpuQuota: '9223372036854775808' })).toThrowError('strconv.ParseInt: parsing "9223372036854775808": value out of range');
  });

  it('reads --blkio-weight as an unsigned 16-bit number', () => {
    expect(resourceChanges({ blkioWeight: '500' })).toEqual({ BlkioWeight: 500 });
    expect(resourceChanges({ blkioWeight: '0x10' })).toEqual({ BlkioWeight: 16 });
    expect(() => resourceChanges({ blkioWeight: '70000' })).toThrowError('invalid argument "70000" for "--blkio-weight" flag: strconv.ParseUint: parsing "70000": value out of range');
    expect(() => resourceChanges({ blkioWeight: '-1' })).toThrowError('invalid argument "-1" for "--blkio-weight" flag: strconv.ParseUint: parsing "-1": invalid syntax');
  });

  it('reads throttles as PATH:RATE with docker\'s messages', () => {
    const bps = 'The correct format is <device-path>:<number>[<unit>]. Number must be a positive integer. Unit is optional and can be kb, mb, or gb';
    const iops = 'The correct format is <device-path>:<number>. Number must be a positive integer';
    const refusals: [Parameters<typeof resourceChanges>[0], string][] = [
      [{ deviceReadBps: ['/dev/sda'] }, 'invalid argument "/dev/sda" for "--device-read-bps" flag: bad format: /dev/sda'],
      [{ deviceReadBps: [':1'] }, 'invalid argument ":1" for "--device-read-bps" flag: bad format: :1'],
      [{ deviceReadBps: ['sda:1mb'] }, 'invalid argument "sda:1mb" for "--device-read-bps" flag: bad format for device path: sda:1mb'],
      [{ deviceReadBps: ['/dev/sda:-1'] }, `invalid argument "/dev/sda:-1" for "--device-read-bps" flag: invalid rate for device: /dev/sda:-1. ${bps}`],
      [{ deviceWriteBps: ['/dev/sda:1x'] }, `invalid argument "/dev/sda:1x" for "--device-write-bps" flag: invalid rate for device: /dev/sda:1x. ${bps}`],
      [{ deviceWriteIops: ['/dev/sda:1k'] }, `invalid argument "/dev/sda:1k" for "--device-write-iops" flag: invalid rate for device: /dev/sda:1k. ${iops}`],
      [{ deviceReadIops: ['/dev/sda:-1'] }, `invalid argument "/dev/sda:-1" for "--device-read-iops" flag: invalid rate for device: /dev/sda:-1. ${iops}`],
      [{ deviceReadIops: ['/dev/sda:1.5'] }, `invalid argument "/dev/sda:1.5" for "--device-read-iops" flag: invalid rate for device: /dev/sda:1.5. ${iops}`],
      [{ deviceReadIops: ['/dev/sda:+5'] }, `invalid argument "/dev/sda:+5" for "--device-read-iops" flag: invalid rate for device: /dev/sda:+5. ${iops}`],
      [{ deviceReadIops: ['sda:1'] }, 'invalid argument "sda:1" for "--device-read-iops" flag: bad format for device path: sda:1'],
    ];
    for (const [flags, message] of refusals) expect(() => resourceChanges(flags), message).toThrowError(message);
  });

  it('takes the rate after the last colon, so that /dev/disk/by-path names can be throttled', () => {
    expect(resourceChanges({ deviceReadBps: ['/dev/disk/by-path/pci-0000:00:1f.2-ata-1:1mb'] })).toEqual({
      BlkioDeviceReadBps: [{ Path: '/dev/disk/by-path/pci-0000:00:1f.2-ata-1', Rate: MiB }],
    });
  });

  it('refuses a bad --device and keeps --device-cgroup-rule for the engine to check', () => {
    expect(() => resourceChanges({ device: ['/dev/sda:/dev/xvdc:rx'] })).toThrowError('bad mode specified: rx');
    expect(resourceChanges({ deviceCgroupRule: ['x'] })).toEqual({ DeviceCgroupRules: ['x'] });
  });
});
