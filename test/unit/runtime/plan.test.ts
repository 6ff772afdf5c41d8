import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../common/errors.js';
import { buildExecPlan, buildHoldPlan, buildPlan, namespaceFlags, type HoldPlanInput } from '../../../runtime/plan.js';
import { PlanTag, planVersion, type PlanTagName } from '../../../runtime/protocol.js';
import { buildSpec } from '../../../runtime/spec.js';

/** One record of a plan: its tag by name and its payload. */
interface DecodedRecord {
  readonly tag: PlanTagName;
  readonly payload: Buffer;
}

const tagNames = new Map<number, PlanTagName>(Object.entries(PlanTag).map(([name, n]) => [n, name as PlanTagName]));

/** Decodes a plan as runtime/native/plan.c reads it (proto.h): header, then records up to `end`. */
function decode(plan: Buffer): { version: number; records: DecodedRecord[] } {
  expect(plan.subarray(0, 4).toString('latin1')).toBe('BPLN');
  const records: DecodedRecord[] = [];
  let off = 8;
  for (;;) {
    const tag = tagNames.get(plan.readUInt16LE(off));
    expect(plan.readUInt16LE(off + 2)).toBe(0);
    const len = plan.readUInt32LE(off + 4);
    if (tag === undefined) throw new Error(`unknown tag ${plan.readUInt16LE(off)}`);
    const payload = plan.subarray(off + 8, off + 8 + len);
    off += 8 + len;
    if (tag === 'end') break;
    records.push({ tag, payload });
  }
  expect(off).toBe(plan.length);
  return { version: plan.readUInt32LE(4), records };
}

/** A PLAN_MOUNT payload: u64 flags, then source, target, fstype and data. */
function mountOf(payload: Buffer): { flags: bigint; source: string; target: string; fstype: string; data: string } {
  const [source = '', target = '', fstype = '', data = ''] = payload.subarray(8).toString('utf8').split('\0');
  return { flags: payload.readBigUInt64LE(0), source, target, fstype, data };
}

const MS_RDONLY = 1n;
const MS_BIND = 4096n;
const MS_REC = 16384n;
const propagationFlags = (1n << 17n) | (1n << 18n) | (1n << 19n) | (1n << 20n);

const dir = '/var/lib/berth/containers/c1';
const overlay = { lowers: ['/var/lib/berth/layers/b', '/var/lib/berth/layers/a'], upper: `${dir}/upper`, work: `${dir}/work` };

function holdInput(overrides: Partial<Parameters<typeof buildSpec>[0]> = {}, input: Partial<HoldPlanInput> = {}): HoldPlanInput {
  const spec = buildSpec({
    rootfs: `${dir}/rootfs`, image: { Cmd: ['sh'] }, user: { uid: 0, gid: 0, additionalGids: [0] }, hostname: 'c1',
    mounts: [
      { type: 'bind', source: `${dir}/hostname`, destination: '/etc/hostname' },
      { type: 'bind', source: '/var/lib/berth/volumes/v/_data', destination: '/data' },
      { type: 'bind', source: '/srv/conf', destination: '/conf', readOnly: true },
      { type: 'tmpfs', destination: '/scratch' },
      { type: 'bind', source: '/srv/sock', destination: '/scratch/sock' },
      { type: 'bind', source: '/dev/fuse', destination: '/dev/fuse' },
    ],
    ...overrides,
  });
  return { spec, rootfs: `${dir}/rootfs`, overlay, ...input };
}

describe('buildHoldPlan', () => {
  it('is a plan of the current version: a new mount namespace only, the overlay rootfs, bind mounts, then hold', () => {
    const { version, records } = decode(buildHoldPlan(holdInput()));
    expect(version).toBe(planVersion);
    expect(version).toBe(5);
    expect(records.map((r) => r.tag)).toEqual(['nsNew', 'rootfs', 'overlay', 'mount', 'mount', 'mount', 'hold']);
    expect(records[0]?.payload.readUInt32LE(0)).toBe(namespaceFlags.mount);
    expect(records[1]?.payload.toString()).toBe(`${dir}/rootfs`);
    expect(records[2]?.payload.toString()).toBe(`lowerdir=${overlay.lowers.join(':')},upperdir=${overlay.upper},workdir=${overlay.work}`);
    expect(records.at(-1)?.payload.length).toBe(0);
  });

  it('keeps only bind mounts, in config order, without propagation; none below /dev, /proc or a tmpfs', () => {
    const mounts = decode(buildHoldPlan(holdInput())).records.filter((r) => r.tag === 'mount').map((r) => mountOf(r.payload));
    // buildSpec puts user mounts after the defaults, fewer path components first.
    expect(mounts.map((m) => [m.source, m.target, m.fstype])).toEqual([
      ['/var/lib/berth/volumes/v/_data', '/data', 'bind'],
      ['/srv/conf', '/conf', 'bind'],
      [`${dir}/hostname`, '/etc/hostname', 'bind'],
    ]);
    for (const m of mounts) {
      expect(m.flags & propagationFlags).toBe(0n);
      expect(m.flags & (MS_BIND | MS_REC)).toBe(MS_BIND | MS_REC);
    }
    expect(mounts.map((m) => m.flags & MS_RDONLY)).toEqual([0n, MS_RDONLY, 0n]);
  });

  it('asks for a read-only rootfs when the container has one, and joins the cgroup when given', () => {
    const cgroup = { tasks: ['/sys/fs/cgroup/memory/berth/c1/tasks'], cgroup2: '/sys/fs/cgroup/unified/berth/c1' };
    const { records } = decode(buildHoldPlan(holdInput({ readOnly: true }, { cgroup })));
    expect(records.map((r) => r.tag)).toEqual(['cgroupTasks', 'cgroup2', 'nsNew', 'rootfs', 'overlay', 'mount', 'mount', 'mount', 'rootReadonly', 'hold']);
    expect(records[0]?.payload.toString()).toBe(cgroup.tasks[0]);
    expect(records[1]?.payload.toString()).toBe(cgroup.cgroup2);
    expect(decode(buildHoldPlan(holdInput())).records.some((r) => r.tag === 'rootReadonly')).toBe(false);
  });

  it('carries none of what makes a container: no process, devices, symlinks, hostname, masks or propagation', () => {
    const tags = new Set(decode(buildHoldPlan(holdInput())).records.map((r) => r.tag));
    for (const tag of ['arg', 'env', 'user', 'caps', 'device', 'symlink', 'mask', 'readonly', 'hostname', 'propagation', 'execFifo'] as const) {
      expect(tags.has(tag), tag).toBe(false);
    }
  });

  it('refuses overlay directories that the mount options cannot hold', () => {
    expect(() => buildHoldPlan(holdInput({}, { overlay: { ...overlay, upper: '/a,b/upper' } }))).toThrow(InvalidArgumentError);
  });
});

describe('buildPlan', () => {
  it('still mounts the overlay rootfs the same way and never holds', () => {
    const input = holdInput();
    const { records } = decode(buildPlan({ spec: input.spec, rootfs: input.rootfs, overlay, cgroup: { tasks: [] }, cgroups: { mode: 'v2' } }));
    const tags = records.map((r) => r.tag);
    expect(tags.slice(1, 3)).toEqual(['rootfs', 'overlay']);
    expect(tags).not.toContain('hold');
    expect(records[2]?.payload.toString()).toBe(`lowerdir=${overlay.lowers.join(':')},upperdir=${overlay.upper},workdir=${overlay.work}`);
  });
});

describe('buildExecPlan', () => {
  const input = (terminal: boolean): Parameters<typeof buildExecPlan>[0] => ({
    process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/', terminal }, pid: 42, namespaces: ['mount'], cgroup: { tasks: [] },
  });

  it('asks for relayed pipes without a terminal, with the stdin flag when stdin is relayed', () => {
    const pipes = (plan: Buffer): Buffer | undefined => decode(plan).records.find((r) => r.tag === 'execPipes')?.payload;
    expect(pipes(buildExecPlan({ ...input(false), pipes: { stdin: false } }))?.readUInt32LE(0)).toBe(0);
    expect(pipes(buildExecPlan({ ...input(false), pipes: { stdin: true } }))?.readUInt32LE(0)).toBe(1);
    // A terminal is a pty of the container's own; runc's exec (no pipes asked) and -d keep the helper's stdio.
    expect(pipes(buildExecPlan({ ...input(true), pipes: { stdin: true } }))).toBeUndefined();
    expect(pipes(buildExecPlan(input(false)))).toBeUndefined();
    expect(pipes(buildExecPlan({ ...input(false), pipes: { stdin: false }, detach: true }))).toBeUndefined();
  });
});
