/**
 * Device rules on cgroup v2: the BPF device program berth-helper attaches to a container's
 * cgroup2 leaf (runtime/native/bpf.c). This project's machines are hybrid (v1 controllers,
 * devices among them, plus a cgroup2 mount), so both the v1 controller and the program
 * check every device access. To show that the program enforces the rules by itself, the
 * fixture test/fixtures/bpf-devices/bpf-devices.c runs berth's program code in a cgroup2
 * child of its own, and one container has its v1 rules opened up to "a *:* rwm" before it
 * starts. The fixture also stands in for a host whose bpf(2) is refused (a seccomp filter),
 * for the hybrid host's fallback and the v2-only host's refusal.
 */
import { chmod, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deviceProgramRules, readHostLayout, type DeviceProgramRule, type HostLayout } from '../../cgroups/index.js';
import { HelperError } from '../../common/errors.js';
import type { LinuxDeviceCgroup, RuntimeSpec } from '../../oci/index.js';
import { defaultDeviceCgroupRules } from '../../runtime/defaults.js';
import { findNativePrograms, runCreateHelper } from '../../runtime/native.js';
import { buildPlan } from '../../runtime/plan.js';
import { berthBin, repoRoot } from '../helpers/berth.js';
import { parseProbe, setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { run, runText } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

const EPERM = 1;

/** A program rule as the fixture takes it: "allow c 1:3 rw". */
function ruleArg(r: DeviceProgramRule): string {
  return `${r.allow ? 'allow' : 'deny'} ${r.type} ${r.major < 0 ? '*' : r.major}:${r.minor < 0 ? '*' : r.minor} ${r.access}`;
}

interface CheckResult {
  readonly programs: number;
  readonly errnos: Readonly<Record<string, number>>;
}

describe.skipIf(skip !== undefined)('device rules on cgroup v2: the BPF device program', () => {
  let h: ContainerHarness;
  let fixture = '';
  let layout: HostLayout;
  let unified = '';

  beforeAll(async () => {
    layout = await readHostLayout();
    if (layout.unified === undefined) throw new Error('This host mounts no cgroup2: there is nothing to attach a device program to');
    unified = layout.unified.mountPoint;
    h = await setUpContainers('devices-bpf');
    fixture = join(h.work, 'bpf-devices');
    const native = join(repoRoot, 'runtime', 'native');
    await runText('cc', ['-static', '-O2', '-std=gnu11', '-Wall', '-Wextra', '-Werror', '-Wno-format-truncation', '-I', native, '-o', fixture,
      join(repoRoot, 'test', 'fixtures', 'bpf-devices', 'bpf-devices.c'), join(native, 'bpf.c'), join(native, 'util.c')]);
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  /** The fixture's `check`: the program of `rules` in a fresh cgroup2 child, and `ops` run in it. */
  async function check(rules: readonly LinuxDeviceCgroup[], ops: readonly string[]): Promise<CheckResult> {
    const out = await runText(fixture, ['check', unified, ...deviceProgramRules(rules).map(ruleArg), '--', ...ops]);
    const parsed = JSON.parse(out) as { programs: number; results: { op: string; errno: number }[] };
    return { programs: parsed.programs, errnos: Object.fromEntries(parsed.results.map((r) => [r.op, r.errno])) };
  }

  /** The ids of the device programs attached to a cgroup2 directory. */
  async function programsOf(dir: string): Promise<number[]> {
    return (JSON.parse(await runText(fixture, ['query', dir])) as { ids: number[] }).ids;
  }

  async function isLoaded(id: number): Promise<boolean> {
    return (JSON.parse(await runText(fixture, ['exists', String(id)])) as { exists: boolean }).exists;
  }

  /** Polls until program `id` is freed (the kernel releases a removed cgroup's programs asynchronously). */
  async function waitUnloaded(id: number): Promise<boolean> {
    for (let i = 0; i < 100; i++) {
      if (!(await isLoaded(id))) return true;
      await new Promise((r) => setTimeout(r, 50));
    }
    return false;
  }

  const v1DevicesDir = (id: string): string => {
    const h1 = layout.v1.find((m) => m.controllers.includes('devices'));
    if (h1 === undefined) throw new Error('This host has no v1 devices hierarchy');
    return join(h1.mountPoint, 'berth', id);
  };

  it('by itself allows what docker\'s rules allow and denies the rest, mknod of any node included', async () => {
    const dir = join(h.work, 'nodes-default');
    await runText('mkdir', [dir]);
    const ops = [
      `mknod c 1:3 ${dir}/null`, `mknod b 8:0 ${dir}/sda`, `mknod c 10:229 ${dir}/fuse`, `mknod b 7:7 ${dir}/loop7`,
      `open rw ${dir}/null`, `open r ${dir}/sda`, `open w ${dir}/sda`, `open rw ${dir}/fuse`, `open r ${dir}/loop7`, `open rw ${dir}/loop7`,
    ];
    // docker's defaults and a --device-cgroup-rule 'b 7:* r'.
    const result = await check([...defaultDeviceCgroupRules, { allow: true, type: 'b', major: 7, access: 'r' }], ops);
    // A second program attached replaced the first.
    expect(result.programs).toBe(1);
    const { [`open r ${dir}/loop7`]: loop7, ...rest } = result.errnos;
    expect(rest).toEqual({
      [`mknod c 1:3 ${dir}/null`]: 0, [`mknod b 8:0 ${dir}/sda`]: 0, [`mknod c 10:229 ${dir}/fuse`]: 0, [`mknod b 7:7 ${dir}/loop7`]: 0,
      [`open rw ${dir}/null`]: 0, [`open r ${dir}/sda`]: EPERM, [`open w ${dir}/sda`]: EPERM, [`open rw ${dir}/fuse`]: EPERM,
      [`open rw ${dir}/loop7`]: EPERM,
    });
    // Allowed by the rule: the open reaches the loop driver (which may say ENXIO on a host without loop7).
    expect(loop7).toBeDefined();
    expect(loop7).not.toBe(EPERM);
  });

  it('by itself applies deny rules after an allow-all, by access, and denies mknod where no rule allows it', async () => {
    const dir = join(h.work, 'nodes-deny');
    await runText('mkdir', [dir]);
    await runText('mknod', [`${dir}/zero`, 'c', '1', '5']);
    await runText('mknod', [`${dir}/kmsg`, 'c', '1', '11']);
    // /dev/kmsg: not one of the runtime's devices, whose allows would take the deny off again (as on v1).
    const privileged = await check([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 1, minor: 11, access: 'w' }],
      [`open r ${dir}/kmsg`, `open w ${dir}/kmsg`, `open rw ${dir}/kmsg`, `open rw ${dir}/zero`]);
    expect(privileged.errnos).toEqual({ [`open r ${dir}/kmsg`]: 0, [`open w ${dir}/kmsg`]: EPERM, [`open rw ${dir}/kmsg`]: EPERM, [`open rw ${dir}/zero`]: 0 });
    // Without the runtime's rules (the fixture takes program rules as they are), mknod is checked too.
    const none = await runText(fixture, ['check', unified, 'allow c 1:5 r', '--', `mknod c 1:3 ${dir}/null`, `open r ${dir}/zero`, `open w ${dir}/zero`]);
    expect(JSON.parse(none)).toMatchObject({ programs: 1, results: [{ errno: EPERM }, { errno: 0 }, { errno: EPERM }] });
  });

  it('is attached to the container\'s cgroup2 leaf before it runs, replaced on restart, and freed with the leaf', async () => {
    const id = await h.runDetached([], ['sleep', '1000']);
    const leaf = join(unified, 'berth', id);
    const first = await programsOf(leaf);
    expect(first).toHaveLength(1);
    await h.berthOk(['kill', id]);
    await h.berthOk(['wait', id]);
    await h.berthOk(['start', id]);
    const second = await programsOf(leaf);
    expect(second).toHaveLength(1);
    expect(second[0]).not.toBe(first[0]);
    expect(await waitUnloaded(first[0] ?? 0)).toBe(true);
    await h.berthOk(['rm', '-f', id]);
    expect(await h.cgroupLeaves([id])).toEqual([]);
    expect(await waitUnloaded(second[0] ?? 0)).toBe(true);
  });

  /** `berth ARGS…` with bpf(2) refused, as a host that does not let berth load programs. */
  function berthWithoutBpf(args: readonly string[]): Promise<{ stdout: Buffer }> {
    return run(fixture, ['deny-bpf', berthBin, '--root', h.root, ...args], {
      env: { ...process.env, BERTH_AUTH_FILE: join(h.root, '..', 'auth.json'), DOCKER_CONFIG: join(h.root, '..', 'docker') },
    });
  }

  /**
   * Creates a container (with berth, or with berth without bpf(2)) that makes device nodes
   * and probes them; opens its v1 devices rules to "a *:* rwm" while its process waits on
   * the exec fifo, already in its cgroups; starts it; then probes again with exec. Returns
   * both reports.
   */
  async function probeWithV1Open(withBpf: boolean): Promise<ReturnType<typeof parseProbe>[]> {
    const command = ['sh', '-c', 'mknod /sda b 8 0 && mknod /fuse c 10 229 && mknod /loop7 b 7 7 && /probe /sda /fuse /loop7 /dev/null && sleep 1000'];
    const args = ['create', '--device-cgroup-rule', 'b 7:* r', h.image, ...command];
    const id = (withBpf ? (await h.berthOk(args)).stdout : (await berthWithoutBpf(args)).stdout.toString('utf8')).trim();
    try {
      expect(await programsOf(join(unified, 'berth', id))).toHaveLength(withBpf ? 1 : 0);
      await writeFile(join(v1DevicesDir(id), 'devices.allow'), 'a');
      expect((await readFile(join(v1DevicesDir(id), 'devices.list'), 'utf8')).trim()).toBe('a *:* rwm');
      await h.berthOk(['start', id]);
      await h.waitForLog(id, '"paths"');
      const report = parseProbe((await h.berthOk(['logs', id])).stdout);
      const exec = parseProbe((await h.berthOk(['exec', id, '/probe', '/sda', '/fuse', '/loop7', '/dev/null'])).stdout);
      return [report, exec];
    } finally {
      await h.removeQuietly(id);
    }
  }

  it('denies in a container, and in what exec runs there, what the rules deny with the v1 controller opened up', async () => {
    for (const seen of await probeWithV1Open(true)) {
      expect(seen.paths['/sda']?.readError).toBe('Operation not permitted');
      // Opened for writing: reading a /dev/fuse that no mount serves fails with EPERM anyway.
      expect(seen.paths['/fuse']?.writeError).toBe('Operation not permitted');
      expect(seen.paths['/loop7']?.readError).not.toBe('Operation not permitted');
      expect(seen.paths['/loop7']?.writeError).toBe('Operation not permitted');
      expect(seen.paths['/dev/null']).toMatchObject({ readable: true, writable: true });
    }
    // The control: without the program, nothing refuses them any more (no sda here: ENXIO).
    for (const seen of await probeWithV1Open(false)) {
      expect(seen.paths['/sda']?.readError).not.toBe('Operation not permitted');
      expect(seen.paths['/fuse']?.writeError).not.toBe('Operation not permitted');
      expect(seen.paths['/loop7']?.writeError).not.toBe('Operation not permitted');
    }
  });

  it('on a hybrid host, runs the container without the program when bpf(2) is refused: the v1 controller enforces the rules', async () => {
    const result = await berthWithoutBpf(['run', '-d', h.image, 'sh', '-c', 'mknod /sda b 8 0 && /probe /sda && sleep 1000']);
    const id = result.stdout.toString('utf8').trim();
    try {
      expect(await programsOf(join(unified, 'berth', id))).toEqual([]);
      await h.waitForLog(id, '"paths"');
      const report = parseProbe((await h.berthOk(['logs', id])).stdout);
      expect(report.paths['/sda']?.readError).toBe('Operation not permitted');
    } finally {
      await h.removeQuietly(id);
    }
  });

  it('where nothing else enforces the rules, refuses to create the container when bpf(2) is refused, naming the cause', async () => {
    // berth-helper under the seccomp filter, with the plan berth makes for a v2-only host.
    const wrapper = join(h.work, 'helper-without-bpf');
    const programs = findNativePrograms();
    await writeFile(wrapper, `#!/bin/sh\nexec ${fixture} deny-bpf ${programs.helper} "$@"\n`);
    await chmod(wrapper, 0o755);
    const leaf = join(unified, `berth-bpf-test-${process.pid}`);
    await runText('mkdir', [leaf]);
    try {
      const spec: RuntimeSpec = {
        ociVersion: '1.2.0',
        process: { user: { uid: 0, gid: 0 }, args: ['/probe'], cwd: '/' },
        root: { path: h.work },
        linux: { namespaces: [{ type: 'mount' }], resources: { devices: [...defaultDeviceCgroupRules] } },
      };
      const plan = buildPlan({ spec, rootfs: h.work, cgroup: { tasks: [], cgroup2: leaf, v1Devices: false }, cgroups: { mode: 'v2' } });
      const err = await runCreateHelper({ ...programs, helper: wrapper }, plan).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(HelperError);
      const helperErr = err as HelperError;
      expect(helperErr.stage).toBe('devices');
      expect(helperErr.errno).toBe(EPERM);
      expect(helperErr.message).toBe(`failed to create the container: enforce the device rules on the cgroup \`${leaf}\` (cgroup v2 does it with a BPF program): bpf BPF_PROG_LOAD of the device program: Operation not permitted`);
      expect(helperErr.hint).toContain('BPF_PROG_TYPE_CGROUP_DEVICE');
      // Nothing ran in the leaf, and nothing is attached to it.
      expect((await readFile(join(leaf, 'cgroup.procs'), 'utf8')).trim()).toBe('');
      expect(await programsOf(leaf)).toEqual([]);
    } finally {
      await runText('rmdir', [leaf]);
    }
  });

  it('leaves nothing behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
