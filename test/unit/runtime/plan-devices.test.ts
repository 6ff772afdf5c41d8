import { describe, expect, it } from 'vitest';
import type { CgroupJoin } from '../../../cgroups/index.js';
import { InvalidArgumentError } from '../../../common/errors.js';
import type { LinuxDeviceCgroup, RuntimeSpec } from '../../../oci/index.js';
import { buildExecPlan, buildPlan } from '../../../runtime/plan.js';
import { PlanTag, planVersion } from '../../../runtime/protocol.js';

/** The records of a plan (protocol.ts): tag and payload, in order, without the end record. */
function records(plan: Buffer): { tag: number; payload: Buffer }[] {
  expect(plan.subarray(0, 4).toString('latin1')).toBe('BPLN');
  expect(plan.readUInt32LE(4)).toBe(planVersion);
  const out: { tag: number; payload: Buffer }[] = [];
  let off = 8;
  for (;;) {
    const tag = plan.readUInt16LE(off);
    const len = plan.readUInt32LE(off + 4);
    if (tag === PlanTag.end) return out;
    out.push({ tag, payload: plan.subarray(off + 8, off + 8 + len) });
    off += 8 + len;
  }
}

/** A deviceRule payload as [allow, type, major, minor, access]. */
function rule(payload: Buffer): number[] {
  expect(payload.length).toBe(20);
  return [payload.readUInt32LE(0), payload.readUInt32LE(4), payload.readInt32LE(8), payload.readInt32LE(12), payload.readUInt32LE(16)];
}

function spec(devices: readonly LinuxDeviceCgroup[]): RuntimeSpec {
  return {
    ociVersion: '1.2.0',
    process: { user: { uid: 0, gid: 0 }, args: ['/probe'], cwd: '/' },
    root: { path: '/rootfs' },
    linux: { namespaces: [{ type: 'mount' }], resources: { devices } },
  };
}

const hybrid: CgroupJoin = { tasks: ['/sys/fs/cgroup/devices/berth/c1/tasks'], cgroup2: '/sys/fs/cgroup/unified/berth/c1', v1Devices: true };
const v2: CgroupJoin = { tasks: [], cgroup2: '/sys/fs/cgroup/berth/c1', v1Devices: false };
const v1: CgroupJoin = { tasks: ['/sys/fs/cgroup/devices/berth/c1/tasks'], v1Devices: true };

const deviceRecords = (plan: Buffer): { tag: number; payload: Buffer }[] =>
  records(plan).filter((r) => r.tag === PlanTag.deviceFilter || r.tag === PlanTag.deviceRule);

describe('buildPlan: the device program', () => {
  const rules = [{ allow: false, access: 'rwm' }, { allow: true, type: 'b' as const, major: 7, minor: 0, access: 'rw' }];

  it('asks for a device program wherever the container is in a cgroup2 leaf, its rules in plan order', () => {
    const recs = deviceRecords(buildPlan({ spec: spec(rules), rootfs: '/rootfs', cgroup: v2, cgroups: { mode: 'v2' } }));
    expect(recs[0]?.tag).toBe(PlanTag.deviceFilter);
    // Nothing else enforces the rules on a pure v2 host: the program is required (flags 0).
    expect(recs[0]?.payload.readUInt32LE(0)).toBe(0);
    const body = recs.slice(1).map((r) => rule(r.payload));
    expect(recs.slice(1).every((r) => r.tag === PlanTag.deviceRule)).toBe(true);
    // b 7:0 rw first (BPF_DEVCG_DEV_BLOCK 1, READ 2 | WRITE 4), then the runtime's: c *:* m, b *:* m, ...
    expect(body[0]).toEqual([1, 1, 7, 0, 6]);
    expect(body[1]).toEqual([1, 2, -1, -1, 1]);
    expect(body[2]).toEqual([1, 1, -1, -1, 1]);
    expect(body).toContainEqual([1, 2, 136, -1, 7]);
    expect(body).toHaveLength(12);
  });

  it('makes the program optional where a v1 devices controller enforces the same rules (hybrid host)', () => {
    const recs = deviceRecords(buildPlan({ spec: spec(rules), rootfs: '/rootfs', cgroup: hybrid, cgroups: { mode: 'v1', hierarchies: [] } }));
    expect(recs[0]?.payload.readUInt32LE(0)).toBe(1);
  });

  it('encodes an allow-all and deny exceptions for a privileged container with a deny rule', () => {
    const recs = deviceRecords(buildPlan({
      spec: spec([{ allow: true, access: 'rwm' }, { allow: false, type: 'c', major: 10, minor: 200, access: 'w' }]),
      rootfs: '/rootfs', cgroup: v2, cgroups: { mode: 'v2' },
    }));
    expect(recs.slice(1).map((r) => rule(r.payload))).toEqual([[1, 0, -1, -1, 7], [0, 2, 10, 200, 4]]);
  });

  it('asks for none on a v1-only host, nor for an exec', () => {
    expect(deviceRecords(buildPlan({ spec: spec(rules), rootfs: '/rootfs', cgroup: v1, cgroups: { mode: 'v1', hierarchies: [] } }))).toEqual([]);
    const exec = buildExecPlan({ process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/' }, pid: 42, namespaces: ['mount'], cgroup: hybrid });
    expect(deviceRecords(exec)).toEqual([]);
    expect(records(exec).some((r) => r.tag === PlanTag.cgroup2)).toBe(true);
  });

  it('refuses a rule that no devices controller would take', () => {
    expect(() => buildPlan({ spec: spec([{ allow: true, type: 'c', major: 1, minor: 3, access: 'x' }]), rootfs: '/rootfs', cgroup: v2, cgroups: { mode: 'v2' } }))
      .toThrow(InvalidArgumentError);
  });
});
