import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { applyDeviceRules, runtimeAllowedDevices, v1DeviceRule } from '../../cgroups/index.js';

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

  it('reports that there is nothing to write to without a devices hierarchy (cgroup v2)', async () => {
    expect(await applyDeviceRules({ unified: '/nonexistent' }, [{ allow: false, access: 'rwm' }])).toBe(false);
  });
});
