/**
 * The cgroup driver contract (control.ts and stats.ts through CgroupManager) run against a
 * fake cgroup v1 host and a fake cgroup v2 host: real temp directory trees of plain files
 * standing in for cgroupfs (STYLE.md §6). mkdir on cgroupfs makes a cgroup's control files;
 * here each fixture writes the files the kernel would have, with the kernel's initial
 * values, so a file berth expects to exist but the host lacks can be left out on purpose.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { freeze, pidsBelow, signalAll, thaw } from '../../../cgroups/control.js';
import { CgroupManager, type ContainerCgroup, type HostLayout, type V1Hierarchy } from '../../../cgroups/index.js';
import { FailedPreconditionError, UnsupportedError } from '../../../common/errors.js';
import type { LinuxResources } from '../../../oci/index.js';

const MiB = 1024 * 1024;
/** What v1 shows for "no limit": LONG_MAX rounded down to a page. */
const v1Unlimited = '9223372036854771712';

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-cgroup-driver-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Writes `files` (name → content) into `dir`. */
function seed(dir: string, files: Readonly<Record<string, string>>): void {
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), content);
}

const read = (dir: string, file: string): string => readFileSync(join(dir, file), 'utf8');

/**
 * One kind of host for the contract: how to lay it out, which files a new leaf has, and
 * where each limit lands, with the value written for {@link limits}.
 */
interface DriverFixture {
  readonly name: string;
  /** The host's hierarchies under `root`. */
  layout(): HostLayout;
  /** Writes the control files the kernel makes in a new leaf, leaving out `without`. */
  populate(cgroup: ContainerCgroup, without?: readonly string[]): void;
  /** The leaf directory holding `controller`'s files. */
  dir(cgroup: ContainerCgroup, controller: 'memory' | 'cpu' | 'cpuset' | 'pids' | 'io' | 'freezer'): string;
  /** For {@link limits}: [controller, file, content after apply]. */
  readonly expected: readonly (readonly ['memory' | 'cpu' | 'cpuset' | 'pids' | 'io', string, string])[];
  /** The file of the memory+swap limit and of the blkio weight, which some hosts lack. */
  readonly swapFile: string;
  readonly weightFile: string;
  /** Files for {@link readStats} that make the usage in {@link usage}. */
  seedStats(cgroup: ContainerCgroup): void;
  /** Marks `n` OOM kills in the memory controller's counter file. */
  seedOomKills(cgroup: ContainerCgroup, n: number): void;
  readonly oomFile: string;
}

/** The limits every fixture applies: docker run -m 64m --memory-swap 128m --memory-reservation 32m -c 512 --cpus 0.5 --cpuset-cpus 0-1 --pids-limit 20 --blkio-weight 500 --device-read-bps /dev/sda:1mb. */
const limits: LinuxResources = {
  memory: { limit: 64 * MiB, swap: 128 * MiB, reservation: 32 * MiB },
  cpu: { shares: 512, period: 100_000, quota: 50_000, cpus: '0-1', mems: '0' },
  pids: { limit: 20 },
  blockIO: { weight: 500, throttleReadBpsDevice: [{ major: 8, minor: 0, rate: MiB }] },
};

/** What every fixture's {@link DriverFixture.seedStats} amounts to. */
const usage = {
  cpuNanos: 1_500_000_000,
  memoryUsage: 100 * MiB - 4 * MiB,
  memoryLimit: 64 * MiB,
  blockRead: 4096 + 1000,
  blockWrite: 8192,
  pids: 3,
  pidsLimit: undefined,
};

function v1Hierarchy(name: string): V1Hierarchy {
  const mountPoint = join(root, name);
  // A second layout in one test shares the first one's trees.
  mkdirSync(mountPoint, { recursive: true });
  return { mountPoint, root: '/', name, controllers: name.split(','), noPrefix: false };
}

const v1Fixture: DriverFixture = {
  name: 'cgroup v1',
  layout() {
    const cpuset = v1Hierarchy('cpuset');
    seed(cpuset.mountPoint, { 'cpuset.cpus': '0-3\n', 'cpuset.mems': '0\n' });
    const names = ['cpu,cpuacct', 'memory', 'pids', 'blkio', 'freezer'];
    return { mode: 'v1', v1: [cpuset, ...names.map(v1Hierarchy)], unified: undefined };
  },
  populate(cgroup, without = []) {
    const files: Record<string, Record<string, string>> = {
      memory: {
        'memory.limit_in_bytes': `${v1Unlimited}\n`, 'memory.memsw.limit_in_bytes': `${v1Unlimited}\n`, 'memory.soft_limit_in_bytes': `${v1Unlimited}\n`,
        'memory.swappiness': '60\n', 'memory.oom_control': 'oom_kill_disable 0\nunder_oom 0\noom_kill 0\n', 'memory.usage_in_bytes': '0\n', 'memory.stat': '',
      },
      'cpu,cpuacct': { 'cpu.shares': '1024\n', 'cpu.cfs_period_us': '100000\n', 'cpu.cfs_quota_us': '-1\n', 'cpuacct.usage': '0\n' },
      pids: { 'pids.max': 'max\n', 'pids.current': '0\n' },
      blkio: {
        'blkio.weight': '500\n', 'blkio.weight_device': '', 'blkio.throttle.read_bps_device': '', 'blkio.throttle.write_bps_device': '',
        'blkio.throttle.read_iops_device': '', 'blkio.throttle.write_iops_device': '', 'blkio.throttle.io_service_bytes_recursive': 'Total 0\n',
      },
      freezer: { 'freezer.state': 'THAWED\n' },
    };
    for (const [hierarchy, contents] of Object.entries(files)) {
      seed(cgroup.paths[hierarchy] ?? '', Object.fromEntries(Object.entries(contents).filter(([file]) => !without.includes(file))));
    }
  },
  dir(cgroup, controller) {
    const key = { memory: 'memory', cpu: 'cpu,cpuacct', cpuset: 'cpuset', pids: 'pids', io: 'blkio', freezer: 'freezer' }[controller];
    return cgroup.paths[key] ?? '';
  },
  expected: [
    ['memory', 'memory.limit_in_bytes', '67108864'],
    ['memory', 'memory.memsw.limit_in_bytes', '134217728'],
    ['memory', 'memory.soft_limit_in_bytes', '33554432'],
    ['cpu', 'cpu.shares', '512'],
    ['cpu', 'cpu.cfs_period_us', '100000'],
    ['cpu', 'cpu.cfs_quota_us', '50000'],
    ['cpuset', 'cpuset.cpus', '0-1'],
    ['cpuset', 'cpuset.mems', '0'],
    ['pids', 'pids.max', '20'],
    ['io', 'blkio.weight', '500'],
    ['io', 'blkio.throttle.read_bps_device', '8:0 1048576'],
  ],
  swapFile: 'memory.memsw.limit_in_bytes',
  weightFile: 'blkio.weight',
  seedStats(cgroup) {
    seed(this.dir(cgroup, 'cpu'), { 'cpuacct.usage': '1500000000\n' });
    seed(this.dir(cgroup, 'memory'), {
      'memory.usage_in_bytes': `${100 * MiB}\n`,
      'memory.limit_in_bytes': `${64 * MiB}\n`,
      // inactive_file is the leaf's own; docker takes total_inactive_file on v1.
      'memory.stat': `cache ${8 * MiB}\nrss ${90 * MiB}\ninactive_file ${1 * MiB}\ntotal_cache ${8 * MiB}\ntotal_inactive_file ${4 * MiB}\n`,
    });
    seed(this.dir(cgroup, 'io'), {
      'blkio.throttle.io_service_bytes_recursive':
        '8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 12288\n8:0 Async 0\n8:0 Discard 0\n8:0 Total 12288\n8:16 Read 1000\n8:16 Write 0\nTotal 13288\n',
    });
    seed(this.dir(cgroup, 'pids'), { 'pids.current': '3\n', 'pids.max': 'max\n' });
  },
  seedOomKills(cgroup, n) {
    seed(this.dir(cgroup, 'memory'), { 'memory.oom_control': `oom_kill_disable 0\nunder_oom 0\noom_kill ${n}\n` });
  },
  oomFile: 'memory.oom_control',
};

const v2Fixture: DriverFixture = {
  name: 'cgroup v2',
  layout() {
    const mountPoint = join(root, 'unified');
    mkdirSync(mountPoint);
    seed(mountPoint, { 'cgroup.controllers': 'cpuset cpu io memory hugetlb pids rdma misc\n', 'cgroup.subtree_control': '', 'cpuset.cpus.effective': '0-3\n' });
    return { mode: 'v2', v1: [], unified: { mountPoint, root: '/' } };
  },
  populate(cgroup, without = []) {
    const files: Record<string, string> = {
      // The controllers the parent's subtree_control enabled (CgroupManager.create wrote it).
      'cgroup.controllers': 'cpuset cpu io memory pids\n',
      'cgroup.freeze': '0\n', 'cgroup.events': 'populated 1\nfrozen 0\n', 'cgroup.kill': '', 'cgroup.procs': '',
      'memory.max': 'max\n', 'memory.low': '0\n', 'memory.swap.max': 'max\n', 'memory.current': '0\n', 'memory.stat': '',
      'memory.events': 'low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n',
      'cpu.weight': '100\n', 'cpu.max': 'max 100000\n', 'cpu.stat': 'usage_usec 0\n', 'cpuset.cpus': '', 'cpuset.mems': '',
      'pids.max': 'max\n', 'pids.current': '0\n', 'io.weight': 'default 100\n', 'io.max': '', 'io.stat': '',
    };
    seed(cgroup.paths['unified'] ?? '', Object.fromEntries(Object.entries(files).filter(([file]) => !without.includes(file))));
  },
  dir(cgroup) {
    return cgroup.paths['unified'] ?? '';
  },
  expected: [
    ['memory', 'memory.max', '67108864'],
    ['memory', 'memory.swap.max', '67108864'],
    ['memory', 'memory.low', '33554432'],
    // shares 512 → weight 59 (runc's quadratic conversion).
    ['cpu', 'cpu.weight', '59'],
    ['cpu', 'cpu.max', '50000 100000'],
    ['cpuset', 'cpuset.cpus', '0-1'],
    ['cpuset', 'cpuset.mems', '0'],
    ['pids', 'pids.max', '20'],
    ['io', 'io.weight', 'default 4950'],
    ['io', 'io.max', '8:0 rbps=1048576'],
  ],
  swapFile: 'memory.swap.max',
  weightFile: 'io.weight',
  seedStats(cgroup) {
    seed(this.dir(cgroup, 'memory'), {
      'cpu.stat': 'usage_usec 1500000\nuser_usec 1000000\nsystem_usec 500000\n',
      'memory.current': `${100 * MiB}\n`,
      'memory.max': `${64 * MiB}\n`,
      'memory.stat': `anon ${90 * MiB}\nfile ${8 * MiB}\nactive_file ${4 * MiB}\ninactive_file ${4 * MiB}\n`,
      'io.stat': '8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n8:16 rbytes=1000 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n',
      'pids.current': '3\n',
      'pids.max': 'max\n',
    });
  },
  seedOomKills(cgroup, n) {
    seed(this.dir(cgroup, 'memory'), { 'memory.events': `low 0\nhigh 0\nmax 9\noom ${n}\noom_kill ${n}\noom_group_kill 0\n` });
  },
  oomFile: 'memory.events',
};

/**
 * Plays the kernel's part for cgroup v2 freezing: mirrors cgroup.freeze into the "frozen"
 * line of cgroup.events a little later, as the kernel does once every task has stopped.
 */
function simulateV2Freezer(dir: string, delayMs = 15): () => void {
  let last = read(dir, 'cgroup.freeze').trim();
  const timer = setInterval(() => {
    const now = read(dir, 'cgroup.freeze').trim();
    if (now === last) return;
    last = now;
    setTimeout(() => writeFileSync(join(dir, 'cgroup.events'), `populated 1\nfrozen ${now}\n`), delayMs);
  }, 2);
  return () => clearInterval(timer);
}

describe.each([v1Fixture, v2Fixture])('the cgroup driver contract on $name', (fixture) => {
  let manager: CgroupManager;
  let cgroup: ContainerCgroup;
  beforeEach(async () => {
    manager = new CgroupManager({ parent: '/berth', layout: fixture.layout() });
    cgroup = await manager.create('web');
  });

  it('writes each limit to its file, with the value this kind of host takes', () => {
    fixture.populate(cgroup);
    expect(cgroup.apply(limits)).toEqual([]);
    for (const [controller, file, value] of fixture.expected) {
      expect(read(fixture.dir(cgroup, controller), file), file).toBe(value);
    }
  });

  it('warns as docker does, and still applies the memory limit, when the host has no swap accounting', () => {
    fixture.populate(cgroup, [fixture.swapFile]);
    expect(cgroup.apply(limits)).toEqual(['Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.']);
    const [, memoryFile, memoryValue] = fixture.expected[0] ?? [];
    expect(read(fixture.dir(cgroup, 'memory'), memoryFile ?? '')).toBe(memoryValue);
    expect(existsSync(join(fixture.dir(cgroup, 'memory'), fixture.swapFile))).toBe(false);
  });

  it('says nothing of swap accounting for unlimited swap (docker warns only for a swap limit)', () => {
    fixture.populate(cgroup, [fixture.swapFile]);
    expect(cgroup.apply({ memory: { limit: 64 * MiB, swap: -1 } })).toEqual([]);
  });

  it('warns as docker does when the host has no blkio weight, and applies the throttles', () => {
    fixture.populate(cgroup, [fixture.weightFile]);
    expect(cgroup.apply(limits)).toEqual(['Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.']);
    const throttle = fixture.expected.find(([controller, file]) => controller === 'io' && file !== fixture.weightFile);
    expect(read(fixture.dir(cgroup, 'io'), throttle?.[1] ?? '')).toBe(throttle?.[2]);
  });

  it('refuses a limit whose control file the host lacks, naming the file', () => {
    const [, file] = fixture.expected.find(([controller]) => controller === 'pids') ?? [];
    fixture.populate(cgroup, [file ?? '']);
    expect(() => cgroup.apply({ pids: { limit: 5 } })).toThrowError(UnsupportedError);
    expect(() => cgroup.apply({ pids: { limit: 5 } })).toThrowError(/pids\.max/);
  });

  it('leaves the files alone for empty resources', () => {
    fixture.populate(cgroup);
    const before = fixture.expected.map(([controller, file]) => read(fixture.dir(cgroup, controller), file));
    expect(cgroup.apply({})).toEqual([]);
    expect(fixture.expected.map(([controller, file]) => read(fixture.dir(cgroup, controller), file))).toEqual(before);
  });

  it('lifts a pids limit with -1 and writes 1 for 0', () => {
    fixture.populate(cgroup);
    cgroup.apply({ pids: { limit: 0 } });
    expect(read(fixture.dir(cgroup, 'pids'), 'pids.max')).toBe('1');
    cgroup.apply({ pids: { limit: -1 } }, { updating: true });
    expect(read(fixture.dir(cgroup, 'pids'), 'pids.max')).toBe('max');
  });

  it('pauses and resumes: freeze waits until frozen, isFrozen tells, thaw undoes it', async () => {
    fixture.populate(cgroup);
    const stop = fixture === v2Fixture ? simulateV2Freezer(fixture.dir(cgroup, 'freezer')) : () => undefined;
    try {
      expect(cgroup.isFrozen()).toBe(false);
      await cgroup.freeze();
      expect(cgroup.isFrozen()).toBe(true);
      await cgroup.thaw();
      expect(cgroup.isFrozen()).toBe(false);
    } finally {
      stop();
    }
    const file = fixture === v2Fixture ? 'cgroup.freeze' : 'freezer.state';
    expect(read(fixture.dir(cgroup, 'freezer'), file)).toBe(fixture === v2Fixture ? '0' : 'THAWED');
  });

  it('counts OOM kills from the "oom_kill N" line, and names the file it reads', () => {
    fixture.populate(cgroup);
    expect(cgroup.oomKills()).toBe(0);
    fixture.seedOomKills(cgroup, 3);
    expect(cgroup.oomKills()).toBe(3);
    expect(cgroup.oomFile()).toBe(join(fixture.dir(cgroup, 'memory'), fixture.oomFile));
  });

  it('reads usage as docker shows it: CPU in ns, memory less the inactive file cache, block I/O over devices', () => {
    fixture.populate(cgroup);
    fixture.seedStats(cgroup);
    expect(cgroup.stats()).toEqual(usage);
  });

  it('reads a fresh leaf as nothing used and no limits', () => {
    fixture.populate(cgroup);
    expect(cgroup.stats()).toEqual({ cpuNanos: 0, memoryUsage: 0, memoryLimit: undefined, blockRead: 0, blockWrite: 0, pids: 0, pidsLimit: undefined });
  });

  it('reads the limits back once applied', () => {
    fixture.populate(cgroup);
    cgroup.apply(limits);
    const stats = cgroup.stats();
    expect([stats.memoryLimit, stats.pidsLimit]).toEqual([64 * MiB, 20]);
  });
});

describe('cgroup v1 memory and memory+swap order', () => {
  let cgroup: ContainerCgroup;
  let memory: string;
  beforeEach(async () => {
    cgroup = await new CgroupManager({ parent: '/berth', layout: v1Fixture.layout() }).create('web');
    v1Fixture.populate(cgroup);
    memory = cgroup.paths['memory'] ?? '';
    seed(memory, { 'memory.limit_in_bytes': `${64 * MiB}\n`, 'memory.memsw.limit_in_bytes': `${128 * MiB}\n` });
  });

  it('ends with both limits written, raising and lowering', () => {
    cgroup.apply({ memory: { limit: 256 * MiB, swap: 512 * MiB } }, { updating: true });
    expect([read(memory, 'memory.limit_in_bytes'), read(memory, 'memory.memsw.limit_in_bytes')]).toEqual([String(256 * MiB), String(512 * MiB)]);
    cgroup.apply({ memory: { limit: 16 * MiB, swap: 32 * MiB } }, { updating: true });
    expect([read(memory, 'memory.limit_in_bytes'), read(memory, 'memory.memsw.limit_in_bytes')]).toEqual([String(16 * MiB), String(32 * MiB)]);
  });

  // The kernel refuses memory above memory+swap, and memory+swap below memory. A directory
  // in place of memory.memsw.limit_in_bytes refuses every write (EISDIR): which limit was
  // written before the refusal shows the order.
  it('writes memory+swap first when the memory limit goes up (above the memory+swap in place)', () => {
    rmSync(join(memory, 'memory.memsw.limit_in_bytes'));
    mkdirSync(join(memory, 'memory.memsw.limit_in_bytes'));
    expect(() => cgroup.apply({ memory: { limit: 256 * MiB, swap: 512 * MiB } }, { updating: true })).toThrowError(FailedPreconditionError);
    expect(read(memory, 'memory.limit_in_bytes')).toBe(`${64 * MiB}\n`);
  });

  it('writes memory first when the memory limit goes down', () => {
    rmSync(join(memory, 'memory.memsw.limit_in_bytes'));
    mkdirSync(join(memory, 'memory.memsw.limit_in_bytes'));
    expect(() => cgroup.apply({ memory: { limit: 16 * MiB, swap: 32 * MiB } }, { updating: true })).toThrowError(FailedPreconditionError);
    expect(read(memory, 'memory.limit_in_bytes')).toBe(String(16 * MiB));
  });

  it('writes memory+swap first when lifting both limits', () => {
    rmSync(join(memory, 'memory.memsw.limit_in_bytes'));
    mkdirSync(join(memory, 'memory.memsw.limit_in_bytes'));
    expect(() => cgroup.apply({ memory: { limit: -1, swap: -1 } }, { updating: true })).toThrowError(FailedPreconditionError);
    expect(read(memory, 'memory.limit_in_bytes')).toBe(`${64 * MiB}\n`);
  });
});

describe('cgroup v1 specifics', () => {
  let cgroup: ContainerCgroup;
  beforeEach(async () => {
    cgroup = await new CgroupManager({ parent: '/berth', layout: v1Fixture.layout() }).create('web');
  });

  it('switches off the OOM killer in memory.oom_control', () => {
    v1Fixture.populate(cgroup);
    expect(cgroup.apply({ memory: { limit: 64 * MiB, disableOOMKiller: true } })).toEqual([]);
    expect(read(cgroup.paths['memory'] ?? '', 'memory.oom_control')).toBe('1');
  });

  it('warns with docker\'s words for a missing weight_device or swappiness file', () => {
    v1Fixture.populate(cgroup, ['blkio.weight_device', 'memory.swappiness']);
    expect(cgroup.apply({ memory: { swappiness: 10 }, blockIO: { weightDevice: [{ major: 8, minor: 0, weight: 200 }, { major: 8, minor: 16, weight: 300 }] } })).toEqual([
      'Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.',
      // Once, for both devices.
      'Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.',
    ]);
  });

  it('refuses limits for a controller no hierarchy has', async () => {
    const layout = v1Fixture.layout();
    const noPids = await new CgroupManager({ parent: '/berth', layout: { ...layout, v1: layout.v1.filter((h) => h.name !== 'pids') } }).create('nopids');
    expect(() => noPids.apply({ pids: { limit: 10 } })).toThrowError(UnsupportedError);
    expect(() => noPids.apply({ pids: { limit: 10 } })).toThrowError('This host has no pids cgroup controller for the limits asked for');
  });

  it('sends a signal to every listed process with the cgroup frozen, and thaws it after', async () => {
    v1Fixture.populate(cgroup);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_, signal) => resolve(signal)));
    try {
      mkdirSync(join(cgroup.paths['pids'] ?? '', 'sub'));
      writeFileSync(join(cgroup.paths['pids'] ?? '', 'sub', 'cgroup.procs'), `${child.pid}\n`);
      await cgroup.signalAll('SIGTERM');
      expect(await exited).toBe('SIGTERM');
      expect(read(cgroup.paths['freezer'] ?? '', 'freezer.state')).toBe('THAWED');
    } finally {
      child.kill('SIGKILL');
    }
  });
});

describe('cgroup v2 specifics', () => {
  let cgroup: ContainerCgroup;
  let leaf: string;
  beforeEach(async () => {
    cgroup = await new CgroupManager({ parent: '/berth', layout: v2Fixture.layout() }).create('web');
    v2Fixture.populate(cgroup);
    leaf = cgroup.paths['unified'] ?? '';
  });

  it('warns as docker does that the OOM killer cannot be switched off, even with no memory limit', () => {
    const warning = 'Your kernel does not support OomKillDisable. OomKillDisable discarded.';
    expect(cgroup.apply({ memory: { limit: 64 * MiB, disableOOMKiller: true } })).toEqual([warning]);
    expect(cgroup.apply({ memory: { disableOOMKiller: true } })).toEqual([warning]);
    expect(cgroup.apply({ memory: { disableOOMKiller: false } })).toEqual([]);
  });

  it('refuses a limit for a controller the leaf\'s cgroup.controllers does not list', () => {
    seed(leaf, { 'cgroup.controllers': 'cpu memory\n' });
    const fresh = new CgroupManager({ parent: '/berth', layout: { mode: 'v2', v1: [], unified: { mountPoint: join(root, 'unified'), root: '/' } } });
    return fresh.attach('web').then((again) => {
      expect(() => again.apply({ pids: { limit: 10 } })).toThrowError(UnsupportedError);
      expect(again.apply({ memory: { limit: 64 * MiB } })).toEqual([]);
    });
  });

  it('returns from freeze as soon as cgroup.events says "frozen 1"', async () => {
    seed(leaf, { 'cgroup.events': 'populated 1\nfrozen 1\n' });
    await freeze(cgroup.controllers(), { timeoutMs: 1000 });
    expect(read(leaf, 'cgroup.freeze')).toBe('1');
    expect(cgroup.isFrozen()).toBe(true);
  });

  it('waits for the kernel to report the cgroup frozen', async () => {
    let done = false;
    const freezing = freeze(cgroup.controllers(), { timeoutMs: 5000 }).then(() => {
      done = true;
    });
    await sleep(40);
    expect(done).toBe(false);
    expect(read(leaf, 'cgroup.freeze')).toBe('1');
    seed(leaf, { 'cgroup.events': 'populated 1\nfrozen 1\n' });
    await freezing;
    expect(done).toBe(true);
  });

  it('gives up when the cgroup never freezes, thawing it again (runc waitFrozen)', async () => {
    const started = Date.now();
    await expect(freeze(cgroup.controllers(), { timeoutMs: 60 })).rejects.toThrowError(FailedPreconditionError);
    expect(Date.now() - started).toBeLessThan(2000);
    expect(read(leaf, 'cgroup.freeze')).toBe('0');
    await expect(freeze(cgroup.controllers(), { timeoutMs: 30 })).rejects.toThrowError(/still shows "frozen 0" in cgroup\.events/);
  });

  it('gives up on a thaw the kernel never reports', async () => {
    seed(leaf, { 'cgroup.events': 'populated 1\nfrozen 1\n' });
    await expect(thaw(cgroup.controllers(), { timeoutMs: 30 })).rejects.toThrowError(/Cannot thaw/);
    expect(read(leaf, 'cgroup.freeze')).toBe('0');
  });

  it('kills everything through cgroup.kill on SIGKILL', async () => {
    await cgroup.signalAll('SIGKILL');
    expect(read(leaf, 'cgroup.kill')).toBe('1');
  });

  it('signals other than SIGKILL go to each process, with the cgroup frozen meanwhile', async () => {
    const stop = simulateV2Freezer(leaf, 1);
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_, signal) => resolve(signal)));
    try {
      seed(leaf, { 'cgroup.procs': `${child.pid}\n` });
      await cgroup.signalAll('SIGINT');
      expect(await exited).toBe('SIGINT');
      expect(read(leaf, 'cgroup.freeze')).toBe('0');
    } finally {
      stop();
      child.kill('SIGKILL');
    }
  });

  it('still signals the processes of a cgroup that will not freeze, and leaves it thawed (runc signalAllProcesses)', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.once('exit', (_, signal) => resolve(signal)));
    try {
      seed(leaf, { 'cgroup.procs': `${child.pid}\n` });
      await signalAll(cgroup.controllers(), 'SIGTERM', { timeoutMs: 30 });
      expect(await exited).toBe('SIGTERM');
      expect(read(leaf, 'cgroup.freeze')).toBe('0');
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('says the host has no freezer when cgroup.freeze is missing', async () => {
    rmSync(join(leaf, 'cgroup.freeze'));
    await expect(cgroup.freeze()).rejects.toThrowError(UnsupportedError);
    expect(cgroup.isFrozen()).toBe(false);
  });
});

describe('a hybrid host', () => {
  it('uses each controller where the host has it: v1 for memory, the cgroup2 tree for pids', async () => {
    const memory = v1Hierarchy('memory');
    const unified = join(root, 'unified');
    mkdirSync(unified);
    seed(unified, { 'cgroup.controllers': 'pids\n', 'cgroup.subtree_control': '' });
    const cgroup = await new CgroupManager({ parent: '/berth', layout: { mode: 'hybrid', v1: [memory], unified: { mountPoint: unified, root: '/' } } }).create('web');
    const leaf2 = cgroup.paths['unified'] ?? '';
    seed(cgroup.paths['memory'] ?? '', { 'memory.limit_in_bytes': `${v1Unlimited}\n`, 'memory.memsw.limit_in_bytes': `${v1Unlimited}\n` });
    seed(leaf2, { 'cgroup.controllers': 'pids\n', 'pids.max': 'max\n', 'pids.current': '4\n' });
    expect(cgroup.apply({ memory: { limit: 64 * MiB, swap: 128 * MiB }, pids: { limit: 9 } })).toEqual([]);
    expect(read(cgroup.paths['memory'] ?? '', 'memory.limit_in_bytes')).toBe(String(64 * MiB));
    expect(read(leaf2, 'pids.max')).toBe('9');
    expect(existsSync(join(leaf2, 'memory.max'))).toBe(false);
    expect([cgroup.stats().pids, cgroup.stats().pidsLimit, cgroup.stats().memoryLimit]).toEqual([4, 9, 64 * MiB]);
    // No cpu controller anywhere.
    expect(() => cgroup.apply({ cpu: { shares: 100 } })).toThrowError(UnsupportedError);
  });
});

describe('readStats edge cases', () => {
  it('takes the whole usage when the inactive cache is not below it, as docker does', async () => {
    const cgroup = await new CgroupManager({ parent: '/berth', layout: v2Fixture.layout() }).create('web');
    v2Fixture.populate(cgroup);
    seed(cgroup.paths['unified'] ?? '', { 'memory.current': '1000\n', 'memory.stat': 'inactive_file 5000\n' });
    expect(cgroup.stats().memoryUsage).toBe(1000);
  });

  it('falls back to inactive_file on v1 when total_inactive_file is not below the usage (docker calculateMemUsageUnixNoCache)', async () => {
    const cgroup = await new CgroupManager({ parent: '/berth', layout: v1Fixture.layout() }).create('web');
    v1Fixture.populate(cgroup);
    seed(cgroup.paths['memory'] ?? '', { 'memory.usage_in_bytes': '1000\n', 'memory.stat': 'inactive_file 300\ntotal_inactive_file 1500\n' });
    expect(cgroup.stats().memoryUsage).toBe(700);
  });
});

describe('pidsBelow', () => {
  it('lists the pids of the leaves and every cgroup below them, ascending, each once; a missing leaf has none', () => {
    const a = join(root, 'a');
    const b = join(root, 'b');
    mkdirSync(join(a, 'x', 'y'), { recursive: true });
    mkdirSync(b);
    seed(a, { 'cgroup.procs': '30\n10\n' });
    seed(join(a, 'x', 'y'), { 'cgroup.procs': '20\n' });
    seed(b, { 'cgroup.procs': '10\n5\n' });
    expect(pidsBelow([a, b, join(root, 'gone')])).toEqual([5, 10, 20, 30]);
  });
});
