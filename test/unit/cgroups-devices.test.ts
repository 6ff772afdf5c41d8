import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyDeviceRules, deviceProgramRules, runtimeAllowedDevices, v1DeviceRule, v1DeviceWrites, v1DevicesLeaf } from '../../cgroups/index.js';
import { InvalidArgumentError } from '../../common/errors.js';
import type { LinuxDeviceCgroup } from '../../oci/index.js';
import { defaultDeviceCgroupRules } from '../../runtime/defaults.js';

describe('device rules', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('formats OCI rules the way the v1 devices controller reads them', () => {
    expect(v1DeviceRule({ allow: false, access: 'rwm' })).toBe('a *:* rwm');
    expect(v1DeviceRule({ allow: true, type: 'c', major: 1, minor: 5, access: 'rw' })).toBe('c 1:5 rw');
    expect(v1DeviceRule({ allow: true, type: 'b', major: 8 })).toBe('b 8:* rwm');
    expect(v1DeviceRule({ allow: true, type: 'c', major: -1, minor: -1, access: 'm' })).toBe('c *:* m');
  });

  it('writes deny and allow rules in order into the devices hierarchy, then the runtime\'s own', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-devices-'));
    // A plain directory stands in for the leaf: each write replaces the file, so the last one of each kind shows.
    const written: string[] = [];
    const leaf = join(dir, 'devices');
    const { mkdirSync } = await import('node:fs');
    mkdirSync(leaf);
    for (const f of ['devices.allow', 'devices.deny']) writeFileSync(join(leaf, f), '');
    const ok = await applyDeviceRules({ cpu: join(dir, 'cpu'), devices: leaf }, [{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' }]);
    expect(ok).toBe(true);
    written.push(readFileSync(join(leaf, 'devices.deny'), 'utf8'), readFileSync(join(leaf, 'devices.allow'), 'utf8'));
    expect(written[0]).toBe('a *:* rwm');
    // The last allow written is the runtime's last rule (the container's ptys).
    expect(written[1]).toBe(v1DeviceRule(runtimeAllowedDevices.at(-1) ?? { allow: true }));
  });

  it("leaves out the runtime's allow rules that docker's defaults already wrote", () => {
    const lines = v1DeviceWrites(defaultDeviceCgroupRules).map((w) => `${w.file} ${w.line}`);
    expect(lines).toEqual([
      'devices.deny a *:* rwm',
      ...['c 1:5 rwm', 'c 1:3 rwm', 'c 1:9 rwm', 'c 1:8 rwm', 'c 5:0 rwm', 'c 5:1 rwm'].map((l) => `devices.allow ${l}`),
      'devices.deny c 10:229 rwm',
      // The runtime's own: only what the defaults did not grant (1:3, 1:5, 1:8, 1:9, 5:0, 5:1 did).
      ...['c *:* m', 'b *:* m', 'c 1:7 rwm', 'c 5:2 rwm', 'c 136:* rwm'].map((l) => `devices.allow ${l}`),
    ]);
  });

  it('writes one rule for a privileged container: allowing all grants the rest', () => {
    expect(v1DeviceWrites([{ allow: true, access: 'rwm' }])).toEqual([{ file: 'devices.allow', line: 'a *:* rwm' }]);
  });

  it('keeps an allow rule that a deny in between might have touched, or that asks for more access', () => {
    const writes = v1DeviceWrites([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rwm' },
      { allow: false, type: 'c', major: 1, access: 'w' },
      { allow: true, type: 'c', major: 1, minor: 7, access: 'r' },
      { allow: true, type: 'c', major: 1, minor: 7, access: 'rw' },
    ]).map((w) => w.line);
    // c 1:3 comes again after "c 1:* w" (a wildcard deny might touch it); 1:7 rw after 1:7 r.
    expect(writes.slice(0, 5)).toEqual(['a *:* rwm', 'c 1:3 rwm', 'c 1:* w', 'c 1:7 r', 'c 1:7 rw']);
    expect(writes.filter((l) => l === 'c 1:3 rwm')).toHaveLength(2);
    // The runtime's 1:7 rwm asks for m too: kept; its 1:5 and 1:9 were not granted before: kept.
    expect(writes).toEqual(expect.arrayContaining(['c 1:7 rwm', 'c 1:5 rwm', 'c 1:9 rwm']));
  });

  it('reports that there is nothing to write to without a devices hierarchy (cgroup v2)', async () => {
    expect(await applyDeviceRules({ unified: '/nonexistent' }, [{ allow: false, access: 'rwm' }])).toBe(false);
  });
});

/** A program rule as a v1-style line with its action: "allow c 1:3 rw". */
const line = (r: { allow: boolean; type: string; major: number; minor: number; access: string }): string =>
  `${r.allow ? 'allow' : 'deny'} ${r.type} ${r.major < 0 ? '*' : r.major}:${r.minor < 0 ? '*' : r.minor} ${r.access}`;

/** The runtime's own rules, as a default-deny program lists them. */
const runtimeLines = ['allow c *:* m', 'allow b *:* m', 'allow c 1:3 rwm', 'allow c 1:5 rwm', 'allow c 1:7 rwm', 'allow c 1:8 rwm',
  'allow c 1:9 rwm', 'allow c 5:0 rwm', 'allow c 5:1 rwm', 'allow c 5:2 rwm', 'allow c 136:* rwm'];

describe('device program rules (cgroup v2)', () => {
  const lines = (rules: readonly LinuxDeviceCgroup[]): string[] => deviceProgramRules(rules).map(line);

  it("gives docker's defaults as the allow exceptions of a default deny, the runtime's merged in", () => {
    expect(lines(defaultDeviceCgroupRules).sort()).toEqual([...runtimeLines].sort());
  });

  it('gives no rules but the runtime\'s for an empty list: the program denies by default, as runc\'s and crun\'s do', () => {
    expect(lines([]).sort()).toEqual([...runtimeLines].sort());
  });

  it('gives one allow-all rule for a privileged container: the runtime\'s allows change nothing', () => {
    expect(lines([{ allow: true, access: 'rwm' }])).toEqual(['allow a *:* rwm']);
  });

  it('merges the accesses of rules for the same device, as the v1 controller does', () => {
    const rules = lines([{ allow: false, access: 'rwm' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'r' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'w' }]);
    expect(rules).toContain('allow b 8:0 rw');
    expect(rules.filter((r) => r.startsWith('allow b 8:0'))).toHaveLength(1);
  });

  it('takes a deny off the exception of exactly its device, leaving a wildcard as the v1 controller leaves it', () => {
    const rules = lines([
      { allow: false, access: 'rwm' },
      { allow: true, type: 'c', major: 4, access: 'rw' },
      { allow: true, type: 'c', major: 4, minor: 1, access: 'rw' },
      { allow: false, type: 'c', major: 4, minor: 1, access: 'w' },
      { allow: false, type: 'c', major: 1, minor: 3, access: 'rwm' },
    ]);
    expect(rules).toContain('allow c 4:* rw');
    expect(rules).toContain('allow c 4:1 r');
    // The runtime allows 1:3 again after the config denied it.
    expect(rules).toContain('allow c 1:3 rwm');
  });

  it('keeps deny exceptions after an allow-all, and an allow of exactly the device takes them off', () => {
    expect(lines([{ allow: true, access: 'rwm' }, { allow: false, type: 'b', major: 8, minor: 0, access: 'rw' }, { allow: false, type: 'c', major: 10, minor: 200 }]))
      .toEqual(['allow a *:* rwm', 'deny b 8:0 rw', 'deny c 10:200 rwm']);
    expect(lines([{ allow: true, access: 'rwm' }, { allow: false, type: 'b', major: 8, minor: 0, access: 'rw' }, { allow: true, type: 'b', major: 8, minor: 0, access: 'w' }]))
      .toEqual(['allow a *:* rwm', 'deny b 8:0 r']);
  });

  it('resets on a rule of type a whatever its access, and keeps nothing from before it', () => {
    expect(lines([{ allow: true, type: 'c', major: 7, minor: 7, access: 'r' }, { allow: false, type: 'a', access: 'r' }]).sort()).toEqual([...runtimeLines].sort());
    expect(lines([{ allow: false, access: 'rwm' }, { allow: true, type: 'a', access: 'm' }])).toEqual(['allow a *:* rwm']);
  });

  it('leaves out exceptions for numbers no device can have', () => {
    expect(lines([{ allow: false, access: 'rwm' }, { allow: true, type: 'c', major: 5000, minor: 1 }, { allow: true, type: 'c', major: 1, minor: 1 << 20 }]).sort())
      .toEqual([...runtimeLines].sort());
  });

  it('refuses rules the v1 controller would refuse', () => {
    const bad: LinuxDeviceCgroup[] = [
      { allow: true, type: 'p' as 'c', major: 1, minor: 3 },
      { allow: true, type: 'c', major: 1.5 },
      { allow: true, type: 'c', major: 1, minor: 3, access: 'rx' },
    ];
    for (const rule of bad) expect(() => deviceProgramRules([rule])).toThrow(InvalidArgumentError);
  });

  it('finds the leaf of the hierarchy with the devices controller, co-mounted or not', () => {
    expect(v1DevicesLeaf({ 'cpu,cpuacct': '/a', 'devices': '/b', unified: '/c' })).toBe('/b');
    expect(v1DevicesLeaf({ 'devices,freezer': '/d' })).toBe('/d');
    expect(v1DevicesLeaf({ unified: '/c' })).toBeUndefined();
  });
});
