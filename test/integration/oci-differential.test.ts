/**
 * Differential test of berth's OCI runtime against runc: the same bundle (umoci's unpack of
 * the probe image, with a config.json written here) runs once under
 * `runc --root R run --bundle B ID` and once under `berth oci --root R2 create --bundle B
 * ID` + `start`, and the two probe reports (test/fixtures/probe/probe.c) must agree up to
 * ids: identity, cwd, capabilities, NoNewPrivs, mount points and filesystem types, open fds,
 * rlimits, environment, pid 1, hostname, cgroups, what the masked and read-only paths and
 * /dev allow, and the devices cgroup.
 *
 * Two configs: root with docker's default capabilities, and a user (1000:1000) with a
 * read-only root, no_new_privs, one ambient capability and its own rlimits. Namespaces:
 * pid, mount, ipc, uts, cgroup and network, no user namespace; terminal false. Both
 * runtimes are given Node's stdio pipes: foreground runc relays them through pipes of its
 * own, berth's `create` hands them to the container and returns while it holds them.
 *
 * Where the reports differ for a reason, the difference is asserted exactly, with the
 * reason beside it. The host is cgroup v1 (hybrid): runc handles it; crun does not.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFsx } from '../../common/sys/fsx.js';
import type { RuntimeSpec } from '../../oci/index.js';
import { berthBin, requireBuilt } from '../helpers/berth.js';
import { buildProbe, parseProbe, probeImageSpec, sleep, type ProbeMount, type ProbeReport } from '../helpers/containers.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { checkPrerequisites } from '../helpers/require.js';
import { umociUnpack, type UnpackedRootfs } from '../helpers/rootfs.js';

const skip = checkPrerequisites({ root: true, commands: ['runc', 'umoci', 'cc'] });

/** Docker's default capabilities (moby oci/caps/defaults.go), as names. */
const defaultCaps = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

/** runc spec's (and docker's) masked and read-only paths. */
const maskedPaths = [
  '/proc/acpi', '/proc/asound', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats',
  '/proc/sched_debug', '/sys/firmware', '/proc/scsi',
];
const readonlyPaths = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

/** A device node in the rootfs that no rule of the config allows: /dev/loop-control (10:237), harmless to open. */
const deniedDevice = '/denied-loop-control';

/**
 * What else the probe looks at: the default devices, the /dev links, and the denied
 * device. Not /dev/stdin, /dev/stdout or /dev/stderr: the probe reads what it checks, and
 * reopening its own stdout pipe for reading would eat the start of its report.
 */
const probePaths = [
  '/dev/null', '/dev/zero', '/dev/full', '/dev/random', '/dev/urandom', '/dev/tty', '/dev/ptmx', '/dev/pts/ptmx', '/dev/fd',
  '/dev/shm', '/dev/mqueue', '/dev/console', '/home/app', deniedDevice,
];

/** runc's default config (`runc spec`) mounts, with a cgroup mount as docker's. */
const mounts: RuntimeSpec['mounts'] = [
  { destination: '/proc', type: 'proc', source: 'proc' },
  { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
  { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
  { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
  { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
  { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
  { destination: '/sys/fs/cgroup', type: 'cgroup', source: 'cgroup', options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'] },
];

interface Scenario {
  readonly name: string;
  readonly process: NonNullable<RuntimeSpec['process']>;
  readonly readonlyRoot: boolean;
}

const path = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

const scenarios: readonly Scenario[] = [
  {
    name: 'root',
    readonlyRoot: false,
    process: {
      terminal: false,
      user: { uid: 0, gid: 0, additionalGids: [10, 2000] },
      args: ['/probe', ...probePaths],
      env: [path, 'TERM=xterm', 'HOME=/root', 'WITH_SPACES=a b  c', 'EMPTY='],
      cwd: '/',
      capabilities: { bounding: defaultCaps, effective: defaultCaps, permitted: defaultCaps },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: false,
    },
  },
  {
    name: 'user',
    readonlyRoot: true,
    process: {
      terminal: false,
      user: { uid: 1000, gid: 1000, additionalGids: [2000] },
      args: ['/probe', ...probePaths],
      env: [path, 'HOME=/home/app'],
      cwd: '/home/app',
      capabilities: {
        bounding: defaultCaps,
        effective: ['CAP_NET_BIND_SERVICE'],
        permitted: ['CAP_NET_BIND_SERVICE'],
        inheritable: ['CAP_NET_BIND_SERVICE'],
        ambient: ['CAP_NET_BIND_SERVICE'],
      },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 200, soft: 100 }, { type: 'RLIMIT_NPROC', hard: 4000, soft: 3000 }],
      noNewPrivileges: true,
    },
  },
];

function config(scenario: Scenario, cgroupsPath: string): RuntimeSpec {
  return {
    ociVersion: '1.0.2',
    process: scenario.process,
    root: { path: 'rootfs', readonly: scenario.readonlyRoot },
    hostname: `diff-${scenario.name}`,
    mounts,
    linux: {
      cgroupsPath,
      // runc's default: deny every device; the runtime adds the default devices it creates.
      resources: { devices: [{ allow: false, access: 'rwm' }] },
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }, { type: 'cgroup' }],
      maskedPaths,
      readonlyPaths,
    },
  } as RuntimeSpec;
}

/** A finished command: exit code and what it wrote. */
interface Ran {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A command started with piped stdio (stdin closed at once). */
interface Piped {
  /** Resolves with the exit code when the process exits. */
  readonly exited: Promise<number>;
  /** Resolves when stdout and stderr are closed by every process holding them. */
  readonly output: Promise<{ stdout: string; stderr: string }>;
  kill(): void;
}

/**
 * Starts a command with pipes for stdin (closed at once: the container reads EOF), stdout
 * and stderr. A container created by it inherits the pipes, so `output` ends only when the
 * container has exited too.
 */
function startPiped(command: string, args: readonly string[]): Piped {
  const child = spawn(command, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  child.stdin.on('error', () => undefined);
  child.stdin.end();
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const ended = (stream: NodeJS.ReadableStream): Promise<void> => new Promise((resolve) => {
    stream.once('end', resolve);
    stream.once('error', () => resolve());
  });
  return {
    exited: new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === 'SIGKILL' ? 9 : 15)));
    }),
    output: Promise.all([ended(child.stdout), ended(child.stderr)]).then(() => ({ stdout, stderr })),
    kill: () => child.kill('SIGKILL'),
  };
}

/** Rejects with `what` when `promise` takes longer than `ms`. */
async function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([promise, new Promise<never>((_resolve, reject) => {
      timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
    })]);
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a command to completion with piped stdio (stdin closed); kills it after `timeoutMs`. */
async function runPiped(command: string, args: readonly string[], timeoutMs = 60_000): Promise<Ran> {
  const child = startPiped(command, args);
  try {
    const [code, output] = await within(Promise.all([child.exited, child.output]), timeoutMs, `${command} ${args.join(' ')}`);
    return { code, ...output };
  } catch (err) {
    child.kill();
    throw err;
  }
}

/** A mount as compared: option lists as sorted sets. */
interface ComparedMount {
  readonly fstype: string;
  readonly source: string;
  readonly options: readonly string[];
  readonly super: readonly string[];
}

/** The mounts of a report by mount point (the last one on a point, the one that shows). */
function mountsByTarget(mounts: readonly ProbeMount[]): Record<string, ComparedMount> {
  const set = (list: string): string[] => [...new Set(list.split(',').filter((o) => o !== ''))].sort();
  const out: Record<string, ComparedMount> = {};
  for (const m of mounts) out[m.target] = { fstype: m.fstype, source: m.source, options: set(m.options), super: set(m.super) };
  return out;
}

/** Both reports of one scenario. */
interface Pair {
  readonly runc: ProbeReport;
  readonly berth: ProbeReport;
}

describe.skipIf(skip !== undefined)('one bundle under runc and under berth oci: the same probe report', () => {
  const tag = randomBytes(6).toString('hex');
  /** A cgroup parent of this file's own, under every hierarchy. */
  const cgroupParent = `berth-oci-diff-${tag}`;
  let work: string;
  let unpacked: UnpackedRootfs | undefined;
  let runcState: string;
  let berthState: string;
  const started: { runtime: 'runc' | 'berth'; id: string }[] = [];
  const pairs = new Map<string, Pair>();
  /** Problems found while running (runtimes leaving their cgroup leaf), checked by the last test. */
  const runProblems: string[] = [];

  const berthOci = (args: readonly string[]): string[] => ['--root', join(work, 'store'), 'oci', '--root', berthState, ...args];

  /** The cgroup directories `relative` names under each hierarchy's mount that exist. */
  async function cgroupDirs(relative: string): Promise<string[]> {
    const base = '/sys/fs/cgroup';
    const hierarchies = await readdir(base).catch(() => [] as string[]);
    return ['', ...hierarchies].map((h) => join(base, h, relative)).filter((d) => existsSync(d));
  }

  async function runBoth(scenario: Scenario): Promise<Pair> {
    if (unpacked === undefined) throw new Error('no bundle');
    const bundle = unpacked.bundle;
    const leaf = `${cgroupParent}/${scenario.name}`;
    await writeFile(join(bundle, 'config.json'), JSON.stringify(config(scenario, `/${leaf}`), null, 2));

    const runcId = `diff-runc-${scenario.name}-${tag}`;
    started.push({ runtime: 'runc', id: runcId });
    // Foreground `runc run`: runc relays the container's stdio through pipes of its own
    // (runc utils_linux.go setupIO: no tty, not detached). berth's create hands the caller's
    // fds on, as `runc create` does; the fds test asserts the difference.
    const runc = await runPiped('runc', ['--root', runcState, 'run', '--bundle', bundle, runcId]);
    if (runc.code !== 0) throw new Error(`runc run exited ${runc.code}\nstdout: ${runc.stdout}\nstderr: ${runc.stderr}`);
    const runcLeft = await cgroupDirs(leaf);
    if (runcLeft.length > 0) runProblems.push(`runc left its cgroup leaf: ${runcLeft.join(', ')}`);

    const berthId = `diff-berth-${scenario.name}-${tag}`;
    started.push({ runtime: 'berth', id: berthId });
    // The container inherits create's stdout and stderr: its output ends when it exits.
    const create = startPiped(berthBin, berthOci(['create', '--bundle', bundle, berthId]));
    const createCode = await within(create.exited, 60_000, 'berth oci create');
    if (createCode !== 0) {
      const output = await within(create.output, 10_000, 'the output of a failed berth oci create');
      throw new Error(`berth oci create exited ${createCode}\nstderr: ${output.stderr}`);
    }
    const start = await runPiped(berthBin, berthOci(['start', berthId]));
    if (start.code !== 0) throw new Error(`berth oci start exited ${start.code}\nstderr: ${start.stderr}`);
    const berth = await within(create.output, 30_000, `the output of berth's container ${berthId}`);
    for (const deadline = Date.now() + 30_000; ;) {
      const state = await runPiped(berthBin, berthOci(['state', berthId]));
      if (state.code === 0 && (JSON.parse(state.stdout) as { status: string }).status === 'stopped') break;
      if (Date.now() > deadline) throw new Error(`berth's container ${berthId} did not stop: ${state.stdout}${state.stderr}`);
      await sleep(50);
    }
    const deleted = await runPiped(berthBin, berthOci(['delete', berthId]));
    if (deleted.code !== 0) throw new Error(`berth oci delete exited ${deleted.code}\nstderr: ${deleted.stderr}`);
    const berthLeft = await cgroupDirs(leaf);
    if (berthLeft.length > 0) runProblems.push(`berth oci delete left its cgroup leaf: ${berthLeft.join(', ')}`);
    const parse = (runtime: string, output: { stdout: string; stderr: string }): ProbeReport => {
      try {
        return parseProbe(output.stdout);
      } catch (err) {
        throw new Error(`${runtime}'s container printed no report; stderr: ${output.stderr}`, { cause: err });
      }
    };
    return { runc: parse('runc', runc), berth: parse('berth', berth) };
  }

  beforeAll(async () => {
    requireBuilt();
    work = await makeTempDir('oci-diff');
    runcState = join(work, 'runc-state');
    berthState = join(work, 'berth-state');
    const layout = join(work, 'layout');
    await writeOciLayout(layout, { probe: await probeImageSpec(await readFile(await buildProbe(work))) });
    unpacked = await umociUnpack(layout, 'probe');
    // A device node no rule allows: under a devices cgroup, opening it fails with EPERM.
    loadFsx().mknod(join(unpacked.dir, deniedDevice), 0o020000 | 0o666, 10, 237);
    await chmod(join(unpacked.dir, deniedDevice), 0o666); // past the umask: the user scenario may open it too
    for (const scenario of scenarios) pairs.set(scenario.name, await runBoth(scenario));
  });

  afterAll(async () => {
    // Both runtimes' state, also when a run failed half way.
    for (const { runtime, id } of started) {
      if (runtime === 'runc') await runPiped('runc', ['--root', runcState, 'delete', '--force', id]).catch(() => undefined);
      else await runPiped(berthBin, berthOci(['delete', '--force', id])).catch(() => undefined);
    }
    for (const scenario of scenarios) for (const dir of await cgroupDirs(`${cgroupParent}/${scenario.name}`)) await rmdir(dir).catch(() => undefined);
    for (const dir of await cgroupDirs(cgroupParent)) await rmdir(dir).catch(() => undefined);
    await unpacked?.remove();
    if (work !== undefined) await removeDir(work);
  });

  const pair = (name: string): Pair => {
    const p = pairs.get(name);
    if (p === undefined) throw new Error(`no reports for ${name}`);
    return p;
  };

  describe.each(scenarios.map((s) => [s.name, s] as const))('%s', (name, scenario) => {
    it('runs the process as PID 1 (parent 0) with the config\'s hostname', () => {
      const { runc, berth } = pair(name);
      expect(runc).toMatchObject({ pid: 1, ppid: 0, hostname: `diff-${name}` });
      expect({ pid: berth.pid, ppid: berth.ppid, hostname: berth.hostname }).toEqual({ pid: runc.pid, ppid: runc.ppid, hostname: runc.hostname });
    });

    it('has the same uid, gid, groups, cwd and umask', () => {
      const { runc, berth } = pair(name);
      const identity = (r: ProbeReport): unknown => ({ uid: r.uid, gid: r.gid, euid: r.euid, egid: r.egid, groups: [...r.groups].sort((a, b) => a - b), cwd: r.cwd, umask: r.umask });
      expect(identity(runc)).toMatchObject({ uid: scenario.process.user.uid, gid: scenario.process.user.gid, cwd: scenario.process.cwd });
      expect(identity(berth)).toEqual(identity(runc));
    });

    it('has the same capability sets, NoNewPrivs and seccomp mode', () => {
      const { runc, berth } = pair(name);
      expect(runc.status['NoNewPrivs']).toBe(scenario.process.noNewPrivileges === true ? '1' : '0');
      expect(berth.status).toEqual(runc.status);
    });

    it('has the same environment, in the same order', () => {
      const { runc, berth } = pair(name);
      expect(runc.env).toEqual(scenario.process.env);
      expect(berth.env).toEqual(runc.env);
    });

    it('has the same rlimits', () => {
      const { runc, berth } = pair(name);
      const nofile = scenario.process.rlimits?.find((r) => r.type === 'RLIMIT_NOFILE');
      expect(runc.rlimits.nofile).toEqual([nofile?.soft, nofile?.hard]);
      expect(berth.rlimits).toEqual(runc.rlimits);
    });

    it('has only fds 0, 1 and 2 open: runc\'s relay pipes, or the caller\'s own under berth', () => {
      const { runc, berth } = pair(name);
      // Foreground `runc run` relays the container's stdio through pipes of its own (runc
      // utils_linux.go setupIO: no tty, not detached). berth's create hands the caller's
      // fds to the container, as `runc create` does; Node's stdio "pipes" are socketpairs.
      const kinds = (r: ProbeReport): unknown => r.fds.map((f) => ({ fd: f.fd, target: f.target.replace(/\[\d+\]$/, '[N]') }));
      expect(kinds(runc)).toEqual([0, 1, 2].map((fd) => ({ fd, target: 'pipe:[N]' })));
      expect(kinds(berth)).toEqual([0, 1, 2].map((fd) => ({ fd, target: 'socket:[N]' })));
    });

    it('is in the root of its cgroup namespace in every hierarchy', () => {
      const { runc, berth } = pair(name);
      for (const line of runc.cgroup) expect(line).toMatch(/:\/$/);
      expect([...berth.cgroup].sort()).toEqual([...runc.cgroup].sort());
    });

    it('has the same mounts (point, fstype, source, options), but for the differences listed here', () => {
      const { runc, berth } = pair(name);
      // Left out: mount ids, parent ids and the order of the lines (berth masks paths before
      // it makes the read-only ones read-only, runc the other way round); option lists are
      // compared as sets.
      const runcMounts = mountsByTarget(runc.mounts);
      const berthMounts = mountsByTarget(berth.mounts);
      expect(runc.mounts.map((m) => m.target).sort()).toEqual(Object.keys(runcMounts).sort()); // each point once
      expect(berth.mounts.map((m) => m.target).sort()).toEqual(Object.keys(berthMounts).sort());

      // 1. On a cgroup v1 host runc also mounts the named hierarchy name=systemd (one without
      //    controllers); berth leaves named hierarchies to the host (cgroups/hierarchy.ts).
      const systemd = runcMounts['/sys/fs/cgroup/systemd'];
      if (existsSync('/sys/fs/cgroup/systemd')) expect(systemd).toMatchObject({ fstype: 'cgroup', super: expect.arrayContaining(['name=systemd']) });
      delete runcMounts['/sys/fs/cgroup/systemd'];
      // 2. berth remounts the read-only paths with nosuid,nodev,noexec too (runtime/native/
      //    mount.c readonly_path); runc keeps the flags proc had. Stricter, not weaker.
      for (const p of readonlyPaths) {
        const r = runcMounts[p];
        const b = berthMounts[p];
        if (r === undefined || b === undefined) continue;
        expect(b.options, p).toEqual([...new Set([...r.options, 'nosuid', 'nodev', 'noexec'])].sort());
        berthMounts[p] = { ...b, options: r.options };
      }
      // 3. berth's masking tmpfs for directories says size=0k (nothing can be written even
      //    if it were remounted read-write); runc's has the default size.
      for (const p of maskedPaths) {
        const r = runcMounts[p];
        const b = berthMounts[p];
        if (r === undefined || b === undefined || r.fstype !== 'tmpfs' || r.source !== 'tmpfs' || !r.super.includes('ro')) continue;
        expect(b.super, p).toEqual([...new Set([...r.super, 'size=0k'])].sort());
        berthMounts[p] = { ...b, super: r.super };
      }
      // 4. runc 1.1 leaves the tmpfs it mounts at /sys/fs/cgroup on a v1 host read-write
      //    (only the hierarchies under it are read-only); berth remounts it read-only, as
      //    the config's "ro" asks.
      const cgroupTmpfs = runcMounts['/sys/fs/cgroup'];
      if (cgroupTmpfs?.fstype === 'tmpfs') {
        const flip = (list: readonly string[]): string[] => list.map((o) => (o === 'rw' ? 'ro' : o)).sort();
        expect(berthMounts['/sys/fs/cgroup']).toEqual({ ...cgroupTmpfs, options: flip(cgroupTmpfs.options), super: flip(cgroupTmpfs.super) });
        berthMounts['/sys/fs/cgroup'] = cgroupTmpfs;
      }
      expect(berthMounts).toEqual(runcMounts);
      expect(berthMounts['/']?.options).toContain(scenario.readonlyRoot ? 'ro' : 'rw');
      // What both must have mounted at all.
      for (const [target, fstype] of [['/proc', 'proc'], ['/dev', 'tmpfs'], ['/dev/pts', 'devpts'], ['/dev/shm', 'tmpfs'], ['/dev/mqueue', 'mqueue'], ['/sys', 'sysfs'], ['/proc/sys', 'proc']]) {
        expect(berthMounts[target ?? '']?.fstype, target).toBe(fstype);
      }
    });

    it('allows the same on the masked, read-only and /dev paths', () => {
      const { runc, berth } = pair(name);
      const { [deniedDevice]: _runcDevice, ...runcPaths } = runc.paths;
      const { [deniedDevice]: _berthDevice, ...berthPaths } = berth.paths;
      expect(berthPaths).toEqual(runcPaths);
    });

    it('cannot open a device node the config does not allow (devices cgroup)', () => {
      const { runc, berth } = pair(name);
      // runc puts the container in a devices cgroup that denies every device but the
      // defaults (config "resources.devices": deny rwm): the node in the rootfs cannot be
      // opened, whatever the capabilities.
      expect(runc.paths[deniedDevice]).toMatchObject({ exists: true, readable: false, readError: 'Operation not permitted', writable: false, writeError: 'Operation not permitted' });
      expect(berth.paths[deniedDevice]).toEqual(runc.paths[deniedDevice]);
    });
  });

  it('leaves no state, cgroup or mount of either runtime behind', async () => {
    expect(runProblems).toEqual([]);
    for (const { runtime, id } of started) {
      const state = runtime === 'runc'
        ? await runPiped('runc', ['--root', runcState, 'state', id])
        : await runPiped(berthBin, berthOci(['state', id]));
      expect(state.code, `${runtime} state ${id}: ${state.stdout}`).not.toBe(0);
    }
    const mountinfo = await readFile('/proc/self/mountinfo', 'utf8');
    expect(mountinfo.split('\n').filter((l) => l.includes(work) || (unpacked !== undefined && l.includes(unpacked.bundle)))).toEqual([]);
  });
});
