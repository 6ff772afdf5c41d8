import { describe, expect, it } from 'vitest';
import {
  allCapabilities, canonicalCapability, defaultCapabilities, defaultDeviceCgroupRules, defaultDevices, defaultMaskedPaths,
  defaultMounts, defaultNamespaces, defaultPathEnv, defaultReadonlyPaths, defaultShmSize, rlimitTypes,
} from '../../../runtime/defaults.js';

describe('runtime defaults', () => {
  it('grant docker\'s 14 default capabilities, in moby\'s order', () => {
    expect(defaultCapabilities).toEqual([
      'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID',
      'CAP_SETUID', 'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
    ]);
    for (const cap of defaultCapabilities) expect(allCapabilities).toContain(cap);
  });

  it('know the 41 capabilities of Linux 5.9 to 6.x in bit order', () => {
    expect(allCapabilities).toHaveLength(41);
    expect(new Set(allCapabilities).size).toBe(41);
    expect(allCapabilities[0]).toBe('CAP_CHOWN');
    expect(allCapabilities[21]).toBe('CAP_SYS_ADMIN');
    expect(allCapabilities[38]).toBe('CAP_PERFMON');
    expect(allCapabilities[40]).toBe('CAP_CHECKPOINT_RESTORE');
  });

  it.each([
    ['net_admin', 'CAP_NET_ADMIN'],
    ['NET_ADMIN', 'CAP_NET_ADMIN'],
    ['cap_net_admin', 'CAP_NET_ADMIN'],
    ['CAP_NET_ADMIN', 'CAP_NET_ADMIN'],
    ['Sys_Ptrace', 'CAP_SYS_PTRACE'],
    ['all', 'ALL'],
    ['ALL', 'ALL'],
    ['CAP_ALL', undefined],
    ['CAP_', undefined],
    ['', undefined],
    ['net_admins', undefined],
  ])('canonicalCapability(%j) is %j', (name, expected) => {
    expect(canonicalCapability(name)).toBe(expected);
  });

  it('mask and protect the paths moby\'s oci/defaults.go lists', () => {
    expect(defaultMaskedPaths).toEqual([
      '/proc/acpi', '/proc/asound', '/proc/interrupts', '/proc/kcore', '/proc/keys', '/proc/latency_stats',
      '/proc/sched_debug', '/proc/scsi', '/proc/timer_list', '/proc/timer_stats', '/sys/devices/virtual/powercap',
      '/sys/firmware',
    ]);
    expect(defaultReadonlyPaths).toEqual(['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger']);
  });

  it('mount proc, /dev, devpts, sysfs, cgroupfs, mqueue and a 64 MiB /dev/shm with docker\'s options', () => {
    expect(defaultShmSize).toBe(67_108_864);
    expect(defaultMounts.map((m) => [m.destination, m.type, m.source, m.options?.join(',')])).toEqual([
      ['/proc', 'proc', 'proc', 'nosuid,noexec,nodev'],
      ['/dev', 'tmpfs', 'tmpfs', 'nosuid,strictatime,mode=755,size=65536k'],
      ['/dev/pts', 'devpts', 'devpts', 'nosuid,noexec,newinstance,ptmxmode=0666,mode=0620,gid=5'],
      ['/sys', 'sysfs', 'sysfs', 'nosuid,noexec,nodev,ro'],
      ['/sys/fs/cgroup', 'cgroup', 'cgroup', 'ro,nosuid,noexec,nodev'],
      ['/dev/mqueue', 'mqueue', 'mqueue', 'nosuid,noexec,nodev'],
      ['/dev/shm', 'tmpfs', 'shm', 'nosuid,noexec,nodev,mode=1777,size=67108864'],
    ]);
  });

  it('provide null, zero, full, random, urandom and tty as 0666 character devices', () => {
    expect(defaultDevices.map((d) => [d.path, d.type, d.major, d.minor, d.fileMode, d.uid, d.gid])).toEqual([
      ['/dev/null', 'c', 1, 3, 438, 0, 0],
      ['/dev/zero', 'c', 1, 5, 438, 0, 0],
      ['/dev/full', 'c', 1, 7, 438, 0, 0],
      ['/dev/random', 'c', 1, 8, 438, 0, 0],
      ['/dev/urandom', 'c', 1, 9, 438, 0, 0],
      ['/dev/tty', 'c', 5, 0, 438, 0, 0],
    ]);
  });

  it('deny every device in the cgroup first, then allow the standard ones and deny /dev/net/tun', () => {
    expect(defaultDeviceCgroupRules[0]).toEqual({ allow: false, access: 'rwm' });
    expect(defaultDeviceCgroupRules.filter((r) => r.allow).map((r) => `${r.major}:${r.minor}`)).toEqual(['1:5', '1:3', '1:9', '1:8', '5:0', '5:1']);
    expect(defaultDeviceCgroupRules.at(-1)).toEqual({ allow: false, type: 'c', major: 10, minor: 229, access: 'rwm' });
  });

  it('have docker\'s PATH, namespaces and ulimit names', () => {
    expect(defaultPathEnv).toBe('/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin');
    expect(defaultNamespaces).toEqual(['mount', 'network', 'uts', 'pid', 'ipc', 'cgroup']);
    expect(rlimitTypes).toContain('nofile');
    expect(rlimitTypes).toHaveLength(16);
  });
});
