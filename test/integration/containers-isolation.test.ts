/**
 * What a process sees inside a berth container, reported by the static probe
 * (test/fixtures/probe/probe.c): pid, uts, mount and cgroup namespaces, capabilities,
 * identity, environment, read-only and masked paths, rlimits. Each test runs its own
 * container(s) and removes them; the last test checks that nothing is left behind.
 */
import { existsSync } from 'node:fs';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { capMask, dockerDefaultCaps, setUpContainers, writeWorkFile, type ContainerHarness, type ProbeReport } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

const capSysAdmin = 1n << 21n;

function mountAt(report: ProbeReport, target: string): ProbeReport['mounts'][number] | undefined {
  // The last mount on a path is the one that shows.
  return report.mounts.filter((m) => m.target === target).at(-1);
}

function optionsOf(mount: { options: string } | undefined): string[] {
  return mount?.options.split(',') ?? [];
}

/** The hex capability sets of this (host) process. */
async function hostCaps(): Promise<{ bnd: bigint }> {
  const status = await readFile('/proc/self/status', 'utf8');
  const line = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  if (line?.[1] === undefined) throw new Error('no CapBnd in /proc/self/status');
  return { bnd: BigInt(`0x${line[1]}`) };
}

/** `/proc/<pid>/cgroup` as [controllers, path] pairs. */
async function cgroupLines(pid: number | 'self'): Promise<[string, string][]> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  return text.split('\n').filter((l) => l !== '').map((l) => {
    const [, controllers = '', ...path] = l.split(':');
    return [controllers, path.join(':')];
  });
}

describe.skipIf(skip !== undefined)('inside a container (probe)', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('isolation');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  it.concurrent('runs the command as PID 1 with parent 0, named after the first 12 characters of the id', async ({ expect }) => {
    const { id, report } = await h.probeDetached();
    expect(report.pid).toBe(1);
    expect(report.ppid).toBe(0);
    expect(report.hostname).toBe(id.slice(0, 12));
    expect(report.env).toContain(`HOSTNAME=${id.slice(0, 12)}`);
    expect(report.cwd).toBe('/');
    expect(report.umask).toBe(0o022);
  });

  it.concurrent('-h sets the host name', async ({ expect }) => {
    const report = await h.probe(['-h', 'probe-host']);
    expect(report.hostname).toBe('probe-host');
    expect(report.env).toContain('HOSTNAME=probe-host');
  });

  it.concurrent('mounts an overlay root, proc, a tmpfs /dev with pts, shm and mqueue, and /sys read-only', async ({ expect }) => {
    const report = await h.probe();
    const root = mountAt(report, '/');
    expect(root?.fstype).toBe('overlay');
    expect(root?.super).toContain(`lowerdir=${h.root}/layers/`);
    expect(root?.super).toMatch(new RegExp(`upperdir=${h.root}/containers/[0-9a-f]{64}/upper`));
    expect(mountAt(report, '/proc')?.fstype).toBe('proc');
    expect(mountAt(report, '/dev')?.fstype).toBe('tmpfs');
    expect(mountAt(report, '/dev/pts')?.fstype).toBe('devpts');
    expect(mountAt(report, '/dev/shm')?.fstype).toBe('tmpfs');
    expect(mountAt(report, '/dev/mqueue')?.fstype).toBe('mqueue');
    expect(mountAt(report, '/sys')?.fstype).toBe('sysfs');
    expect(optionsOf(mountAt(report, '/sys'))).toContain('ro');
    expect(report.paths['/sys']).toMatchObject({ exists: true, writable: false, writeError: 'Read-only file system' });
    // Nothing of the host's own mount table shows (e.g. the host's / is not ext4-on-/ here).
    expect(report.mounts.filter((m) => m.target === '/' && m.fstype !== 'overlay')).toEqual([]);
  });

  it.concurrent('gives /dev exactly null, zero, full, random, urandom and tty as devices', async ({ expect }) => {
    const result = await h.berthOk(['run', '--rm', h.image, 'sh', '-c', 'for f in /dev/* /dev/pts/*; do [ -L "$f" ] && continue; [ -c "$f" ] || [ -b "$f" ] && stat -c "%n %t:%T" "$f"; done; true']);
    const devices = result.stdout.split('\n').filter((l) => l !== '').sort();
    expect(devices).toEqual([
      '/dev/full 1:7', '/dev/null 1:3', '/dev/pts/ptmx 5:2', '/dev/random 1:8', '/dev/tty 5:0', '/dev/urandom 1:9', '/dev/zero 1:5',
    ]);
  });

  it.concurrent("has docker's default capabilities and nothing inheritable or ambient", async ({ expect }) => {
    const report = await h.probe();
    expect(capMask(report, 'CapEff')).toBe(dockerDefaultCaps);
    expect(capMask(report, 'CapPrm')).toBe(dockerDefaultCaps);
    expect(capMask(report, 'CapBnd')).toBe(dockerDefaultCaps);
    expect(capMask(report, 'CapInh')).toBe(0n);
    expect(capMask(report, 'CapAmb')).toBe(0n);
    expect(report.status['NoNewPrivs']).toBe('0');
  });

  it.concurrent('--cap-drop ALL leaves no capability', async ({ expect }) => {
    const report = await h.probe(['--cap-drop', 'ALL']);
    for (const set of ['CapEff', 'CapPrm', 'CapBnd', 'CapInh', 'CapAmb'] as const) expect(capMask(report, set), set).toBe(0n);
  });

  it.concurrent('--cap-add SYS_ADMIN adds bit 21 to the default set', async ({ expect }) => {
    const report = await h.probe(['--cap-add', 'SYS_ADMIN']);
    expect(capMask(report, 'CapEff')).toBe(dockerDefaultCaps | capSysAdmin);
    expect(capMask(report, 'CapBnd')).toBe(dockerDefaultCaps | capSysAdmin);
  });

  it.concurrent('--privileged gives every capability berth itself holds and masks nothing', async ({ expect }) => {
    // This host's root lacks CAP_SYS_RESOURCE: "every capability" is the bounding set here.
    const { bnd } = await hostCaps();
    const report = await h.probe(['--privileged']);
    expect(capMask(report, 'CapEff')).toBe(bnd);
    expect(capMask(report, 'CapBnd')).toBe(bnd);
    expect(mountAt(report, '/proc/timer_list')).toBeUndefined();
  });

  it.concurrent('leaves only fds 0, 1 and 2 open', async ({ expect }) => {
    const report = await h.probe();
    expect(report.fds.map((f) => f.fd)).toEqual([0, 1, 2]);
  });

  it.concurrent('puts the process in a /berth/<id> leaf of every hierarchy, and a cgroup namespace rooted there', async ({ expect }) => {
    await h.withContainer([], ['sleep', '30'], async (id) => {
      const state = (await h.inspect(id))['State'] as { Pid: number };
      expect(state.Pid).toBeGreaterThan(0);
      const lines = await cgroupLines(state.Pid);
      // Named hierarchies without controllers (name=systemd) are left to the host (cgroups/hierarchy.ts).
      const withControllers = lines.filter(([controllers]) => !controllers.startsWith('name='));
      expect(withControllers.length).toBeGreaterThan(1);
      for (const [controllers, path] of withControllers) expect(`${controllers}:${path}`).toBe(`${controllers}:/berth/${id}`);
      expect(await h.cgroupLeaves([id])).not.toEqual([]);
    });
    const inside = await h.probe();
    expect(inside.cgroup.length).toBeGreaterThan(1);
    for (const line of inside.cgroup) expect(line).toMatch(/:\/$/);
  });

  it.concurrent('-u nobody runs as 65534:65534', async ({ expect }) => {
    const report = await h.probe(['-u', 'nobody']);
    expect(report).toMatchObject({ uid: 65534, euid: 65534, gid: 65534, egid: 65534 });
    expect(report.groups).toEqual([65534]);
    // A non-root user keeps no effective capability.
    expect(capMask(report, 'CapEff')).toBe(0n);
  });

  it.concurrent('-u app runs as 1000:1000 with its supplementary group extra (2000)', async ({ expect }) => {
    const report = await h.probe(['-u', 'app']);
    expect(report).toMatchObject({ uid: 1000, euid: 1000, gid: 1000, egid: 1000 });
    expect([...report.groups].sort()).toEqual([1000, 2000]);
  });

  it.concurrent('-u 1000:2000 takes the numeric uid and gid', async ({ expect }) => {
    const report = await h.probe(['-u', '1000:2000']);
    expect(report).toMatchObject({ uid: 1000, euid: 1000, gid: 2000, egid: 2000 });
    expect(report.groups).toContain(2000);
    expect(report.groups).not.toContain(0);
  });

  it.concurrent('-w creates a missing working directory', async ({ expect }) => {
    const report = await h.probe(['-w', '/made/by/berth']);
    expect(report.cwd).toBe('/made/by/berth');
  });

  it.concurrent('-e and --env-file set the environment, -e last, and -e NAME passes the caller\'s value', async ({ expect }) => {
    const envFile = await writeWorkFile(h, 'isolation.env', '# a comment\nFROM_FILE=file value\nOVERRIDDEN=from file\n\nEMPTY=\n');
    const report = await h.probe(['--env-file', envFile, '-e', 'OVERRIDDEN=from flag', '-e', 'PLAIN=1']);
    expect(report.env).toContain('FROM_FILE=file value');
    expect(report.env).toContain('EMPTY=');
    expect(report.env).toContain('PLAIN=1');
    expect(report.env.filter((e) => e.startsWith('OVERRIDDEN='))).toEqual(['OVERRIDDEN=from flag']);
    expect(report.env.some((e) => e.startsWith('PATH=/usr/local/sbin'))).toBe(true);
    const passed = await h.berth(['run', '--rm', '-e', 'BERTH_TEST_PASSED', h.image, 'sh', '-c', 'echo "$BERTH_TEST_PASSED"'], { env: { BERTH_TEST_PASSED: 'through' } });
    expect(passed.stdout).toBe('through\n');
  });

  it.concurrent('--security-opt no-new-privileges sets NoNewPrivs', async ({ expect }) => {
    const report = await h.probe(['--security-opt', 'no-new-privileges']);
    expect(report.status['NoNewPrivs']).toBe('1');
  });

  it.concurrent('--read-only mounts the root read-only', async ({ expect }) => {
    const report = await h.probe(['--read-only']);
    expect(optionsOf(mountAt(report, '/'))).toContain('ro');
    expect(report.paths['/']).toMatchObject({ writable: false, writeError: 'Read-only file system' });
    const touch = await h.berth(['run', '--rm', '--read-only', h.image, 'touch', '/file']);
    expect(touch.code).toBe(1);
    expect(touch.stderr).toContain('Read-only file system');
    // Without the flag the same write works.
    expect((await h.berth(['run', '--rm', h.image, 'touch', '/file'])).code).toBe(0);
  });

  it.concurrent('/proc/sys and /proc/sysrq-trigger are read-only', async ({ expect }) => {
    const report = await h.probe();
    expect(optionsOf(mountAt(report, '/proc/sys'))).toContain('ro');
    expect(report.paths['/proc/sys/kernel/domainname']).toMatchObject({ exists: true, readable: true, writable: false, writeError: 'Read-only file system' });
    // This host's kernel may have no sysrq-trigger at all; where it has one, it must not be writable.
    if (existsSync('/proc/sysrq-trigger')) expect(report.paths['/proc/sysrq-trigger']).toMatchObject({ writable: false });
    else expect(report.paths['/proc/sysrq-trigger']?.exists).toBe(false);
  });

  it.concurrent('masks /proc/timer_list, /proc/keys, /proc/acpi and /sys/firmware', async ({ expect }) => {
    const report = await h.probe();
    // Each is checked only where the host has something to hide.
    for (const file of ['/proc/timer_list', '/proc/keys']) {
      const host = await readFile(file).catch(() => undefined);
      if (host === undefined || host.length === 0) continue;
      const seen = report.paths[file];
      expect(seen?.readable === false || seen?.size === 0, `${file}: ${JSON.stringify(seen)}`).toBe(true);
    }
    for (const dir of ['/proc/acpi', '/sys/firmware']) {
      const host = await readdir(dir).catch(() => [] as string[]);
      if (host.length === 0) continue;
      const seen = report.paths[dir];
      expect(seen?.readable === false || seen?.size === 0, `${dir}: ${JSON.stringify(seen)}`).toBe(true);
      expect(seen?.writable, dir).toBe(false);
    }
  });

  it.concurrent('--ulimit nofile=100:200 sets the soft and hard limits', async ({ expect }) => {
    const report = await h.probe(['--ulimit', 'nofile=100:200']);
    expect(report.rlimits.nofile).toEqual([100, 200]);
  });

  it('refuses a ulimit above the current hard limit with exit 125 and a clear message, leaving nothing', async () => {
    // Runs alone (not concurrent): every container id seen meanwhile belongs to this test.
    const hard = Number((await readFile('/proc/self/limits', 'utf8')).match(/^Max open files\s+\d+\s+(\d+)/m)?.[1]);
    expect(hard).toBeGreaterThan(0);
    const before = new Set(h.seenIds());
    const result = await h.berth(['run', '--rm', '--name', 'ulimit-too-high', '--ulimit', `nofile=${hard + 10000}:${hard + 10000}`, h.image, 'true']);
    expect(result.code, result.stderr).toBe(125);
    expect(result.stderr).toContain(String(hard + 10000));
    expect(result.stderr).toContain(String(hard));
    expect(result.stderr).toMatch(/nofile/i);
    expect((await h.berth(['inspect', 'ulimit-too-high'])).code).toBe(125);
    await new Promise((resolve) => setTimeout(resolve, 100)); // let the directory watch catch up
    const made = [...h.seenIds()].filter((id) => !before.has(id));
    for (const id of made) expect(existsSync(join(h.root, 'containers', id)), id).toBe(false);
    expect(await h.cgroupLeaves(made)).toEqual([]);
    expect(await h.listIds()).toEqual([]);
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
