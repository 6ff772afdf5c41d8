import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMountinfo, readHostLayout } from '../../cgroups/index.js';
import { InvalidContentError, UnsupportedError } from '../../common/errors.js';

/** The cgroup lines of this project's CI machine (hybrid; cpu and cpuacct apart; hugetlb on cgroup2). */
const ciMachine = `
22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`;

/** Fedora 40 / Debian 12 / Ubuntu 22.04 and later: pure cgroup v2. */
const fedora = `
1 0 253:0 / / rw,relatime shared:1 - ext4 /dev/mapper/root rw,seclabel
22 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:2 - sysfs sysfs rw,seclabel
26 22 0:24 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,seclabel,nsdelegate,memory_recursiveprot
27 22 0:25 / /sys/fs/pstore rw,nosuid,nodev,noexec,relatime shared:5 - pstore pstore rw,seclabel
`;

/** CentOS 7: cgroup v1, cpu and cpuacct co-mounted (with symlinks `cpu`, `cpuacct` beside it). */
const centos7 = `
18 40 0:17 / /sys rw,nosuid,nodev,noexec,relatime shared:6 - sysfs sysfs rw,seclabel
24 18 0:20 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:7 - tmpfs tmpfs ro,seclabel,mode=755
25 24 0:21 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:8 - cgroup cgroup rw,seclabel,xattr,release_agent=/usr/lib/systemd/systemd-cgroups-agent,name=systemd
27 24 0:23 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,seclabel,cpuset
28 24 0:24 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:10 - cgroup cgroup rw,seclabel,cpu,cpuacct
29 24 0:25 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,seclabel,net_cls,net_prio
30 24 0:26 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,seclabel,memory
31 24 0:27 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,seclabel,devices
32 24 0:28 / /sys/fs/cgroup/freezer rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,seclabel,freezer
33 24 0:29 / /sys/fs/cgroup/blkio rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,seclabel,blkio
34 24 0:30 / /sys/fs/cgroup/hugetlb rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,seclabel,hugetlb
35 24 0:31 / /sys/fs/cgroup/perf_event rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,seclabel,perf_event
36 24 0:32 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,seclabel,pids
`;

/** Ubuntu 20.04: systemd's hybrid layout, cgroup2 at /sys/fs/cgroup/unified. */
const ubuntu2004 = `
25 30 0:23 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
34 25 0:29 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
35 34 0:30 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
36 34 0:31 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
39 34 0:34 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpu,cpuacct
40 34 0:35 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,net_cls,net_prio
41 34 0:36 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:18 - cgroup cgroup rw,memory
42 34 0:37 / /sys/fs/cgroup/rdma rw,nosuid,nodev,noexec,relatime shared:19 - cgroup cgroup rw,rdma
43 34 0:38 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:20 - cgroup cgroup rw,pids
44 34 0:39 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:21 - cgroup cgroup rw,cpuset,clone_children
`;

/** Inside a docker container on a v1 host without a cgroup namespace: each mount shows /docker/<id>. */
const dockerOnV1 = `
690 600 0:55 / / rw,relatime master:300 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
700 690 0:60 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
701 700 0:61 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - tmpfs tmpfs rw,mode=755
702 701 0:21 /docker/0123abcd /sys/fs/cgroup/systemd ro,nosuid,nodev,noexec,relatime master:11 - cgroup cgroup rw,xattr,name=systemd
703 701 0:24 /docker/0123abcd /sys/fs/cgroup/cpu,cpuacct ro,nosuid,nodev,noexec,relatime master:12 - cgroup cgroup rw,cpu,cpuacct
704 701 0:26 /docker/0123abcd /sys/fs/cgroup/memory ro,nosuid,nodev,noexec,relatime master:13 - cgroup cgroup rw,memory
`;

/** Inside a container with its own cgroup namespace on a v2 host (docker's default there). */
const containerOnV2 = `
900 800 0:70 / / rw,relatime - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
905 900 0:75 / /sys ro,nosuid,nodev,noexec,relatime - sysfs sysfs ro
906 905 0:26 / /sys/fs/cgroup ro,nosuid,nodev,noexec,relatime - cgroup2 cgroup rw,nsdelegate,memory_recursiveprot
`;

describe('parseMountinfo', () => {
  it('reads the CI machine as hybrid: each v1 controller hierarchy, and cgroup2 at /sys/fs/cgroup/unified', () => {
    const layout = parseMountinfo(ciMachine);
    expect(layout.mode).toBe('hybrid');
    expect(layout.unified).toEqual({ mountPoint: '/sys/fs/cgroup/unified', root: '/' });
    expect(layout.v1.map((h) => [h.name, h.mountPoint])).toEqual([
      ['cpu', '/sys/fs/cgroup/cpu'],
      ['cpuacct', '/sys/fs/cgroup/cpuacct'],
      ['cpuset', '/sys/fs/cgroup/cpuset'],
      ['memory', '/sys/fs/cgroup/memory'],
      ['devices', '/sys/fs/cgroup/devices'],
      ['freezer', '/sys/fs/cgroup/freezer'],
      ['blkio', '/sys/fs/cgroup/blkio'],
      ['pids', '/sys/fs/cgroup/pids'],
    ]);
  });

  it('leaves out named hierarchies without controllers (name=systemd)', () => {
    for (const sample of [ciMachine, centos7, ubuntu2004]) {
      expect(parseMountinfo(sample).v1.some((h) => h.mountPoint.endsWith('/systemd'))).toBe(false);
    }
  });

  it('reads a pure cgroup v2 host', () => {
    expect(parseMountinfo(fedora)).toEqual({ mode: 'v2', v1: [], unified: { mountPoint: '/sys/fs/cgroup', root: '/' } });
  });

  it('reads a cgroup v1 host with co-mounted controllers, and ignores mount flags among the super options', () => {
    const layout = parseMountinfo(centos7);
    expect(layout.mode).toBe('v1');
    expect(layout.unified).toBeUndefined();
    const cpu = layout.v1.find((h) => h.controllers.includes('cpu'));
    expect(cpu).toEqual({ mountPoint: '/sys/fs/cgroup/cpu,cpuacct', root: '/', name: 'cpu,cpuacct', controllers: ['cpu', 'cpuacct'], noPrefix: false });
    expect(layout.v1.map((h) => h.name)).toEqual([
      'cpuset', 'cpu,cpuacct', 'net_cls,net_prio', 'memory', 'devices', 'freezer', 'blkio', 'hugetlb', 'perf_event', 'pids',
    ]);
  });

  it("reads systemd's hybrid layout", () => {
    const layout = parseMountinfo(ubuntu2004);
    expect(layout.mode).toBe('hybrid');
    expect(layout.unified?.mountPoint).toBe('/sys/fs/cgroup/unified');
    expect(layout.v1.find((h) => h.name === 'cpuset')?.controllers).toEqual(['cpuset']);
    expect(layout.v1.map((h) => h.name)).toEqual(['cpu,cpuacct', 'net_cls,net_prio', 'memory', 'rdma', 'pids', 'cpuset']);
  });

  it("keeps the cgroup each mount shows inside a container without a cgroup namespace", () => {
    const layout = parseMountinfo(dockerOnV1);
    expect(layout.mode).toBe('v1');
    expect(layout.v1.map((h) => [h.name, h.root])).toEqual([['cpu,cpuacct', '/docker/0123abcd'], ['memory', '/docker/0123abcd']]);
    expect(parseMountinfo(containerOnV2)).toEqual({ mode: 'v2', v1: [], unified: { mountPoint: '/sys/fs/cgroup', root: '/' } });
  });

  it('prefers the mount of the whole hierarchy at /sys/fs/cgroup when a hierarchy is mounted twice', () => {
    const layout = parseMountinfo(`
24 18 0:20 / /sys/fs/cgroup rw,nosuid - tmpfs tmpfs rw,mode=755
50 1 0:26 /berth /mnt/berth-memory rw,relatime - cgroup cgroup rw,memory
51 1 0:26 / /run/memory rw,relatime - cgroup cgroup rw,memory
52 24 0:26 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
53 24 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
54 1 0:27 / /run/unified rw,relatime - cgroup2 cgroup2 rw
`);
    expect(layout.v1).toEqual([{ mountPoint: '/sys/fs/cgroup/memory', root: '/', name: 'memory', controllers: ['memory'], noPrefix: false }]);
    expect(layout.unified?.mountPoint).toBe('/sys/fs/cgroup/unified');
  });

  it('ignores mounts hidden by a later mount over them or over a directory above them', () => {
    const layout = parseMountinfo(`
22 1 0:21 / /sys rw - sysfs sysfs rw
24 22 0:20 / /sys/fs/cgroup rw - tmpfs tmpfs rw,mode=755
25 24 0:26 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
26 22 0:27 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate
`);
    expect(layout).toEqual({ mode: 'v2', v1: [], unified: { mountPoint: '/sys/fs/cgroup', root: '/' } });
  });

  it('reads escaped mount points and the noprefix flag', () => {
    const layout = parseMountinfo('60 1 0:40 / /mnt/my\\040cgroups rw - cgroup none rw,cpuset,noprefix,release_agent=/sbin/x\n');
    expect(layout.v1).toEqual([{ mountPoint: '/mnt/my cgroups', root: '/', name: 'cpuset', controllers: ['cpuset'], noPrefix: true }]);
  });

  it('says what to do when no cgroup filesystem is mounted', () => {
    const fail = (text: string): unknown => {
      try {
        parseMountinfo(text);
      } catch (err) {
        return err;
      }
      return undefined;
    };
    for (const text of [fedora.replace(/^.*cgroup2.*$/m, ''), '40 31 0:37 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,name=systemd\n', '']) {
      const err = fail(text);
      expect(err).toBeInstanceOf(UnsupportedError);
      expect(err).toMatchObject({ message: 'No cgroup filesystem is mounted', hint: expect.stringContaining('mount -t cgroup2') });
    }
  });

  it('rejects text that is not mountinfo', () => {
    expect(() => parseMountinfo('proc /proc proc rw,nosuid 0 0\n')).toThrowError(InvalidContentError);
  });
});

describe('readHostLayout', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('reads <procRoot>/self/mountinfo', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cgroups-'));
    mkdirSync(join(dir, 'self'));
    writeFileSync(join(dir, 'self', 'mountinfo'), centos7);
    expect((await readHostLayout({ procRoot: dir })).mode).toBe('v1');
  });

  it('says to mount procfs when there is no mountinfo', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-cgroups-'));
    await expect(readHostLayout({ procRoot: dir })).rejects.toThrowError(UnsupportedError);
  });
});
