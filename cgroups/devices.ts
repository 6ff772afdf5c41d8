/**
 * Device access rules (config-linux.md "Devices" under resources): on cgroup v1 the
 * devices controller's devices.deny/devices.allow files, written in order before any
 * process joins. cgroup v2 has no such files (runc and crun attach an eBPF program there);
 * berth does not load one yet, so on a v2 host the rules are not enforced: the caller is
 * told, so that it can say so.
 */
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError } from '../common/errors.js';
import type { LinuxDeviceCgroup } from '../oci/index.js';

/**
 * What the runtime itself allows after the config's rules, as runc does
 * (libcontainer/specconv AllowedDevices): making any device node (m), and using the default
 * devices it creates for every container (null, zero, full, random, urandom, tty), the
 * pty multiplexer and the container's own ptys (/dev/pts, major 136).
 */
export const runtimeAllowedDevices: readonly LinuxDeviceCgroup[] = [
  { allow: true, type: 'c', access: 'm' },
  { allow: true, type: 'b', access: 'm' },
  ...([[1, 3], [1, 5], [1, 7], [1, 8], [1, 9], [5, 0], [5, 1], [5, 2]] as const).map(([major, minor]): LinuxDeviceCgroup => ({ allow: true, type: 'c', major, minor, access: 'rwm' })),
  { allow: true, type: 'c', major: 136, access: 'rwm' },
];

/** One rule in the v1 file format: "c 1:5 rwm", "a *:* rwm". */
export function v1DeviceRule(rule: LinuxDeviceCgroup): string {
  const type = rule.type === undefined || rule.type === 'a' ? 'a' : rule.type;
  const major = rule.major === undefined || rule.major < 0 ? '*' : String(rule.major);
  const minor = rule.minor === undefined || rule.minor < 0 ? '*' : String(rule.minor);
  const access = rule.access === undefined || rule.access === '' ? 'rwm' : rule.access;
  return type === 'a' ? `a *:* ${access}` : `${type} ${major}:${minor} ${access}`;
}

/**
 * Applies `rules`, then {@link runtimeAllowedDevices}, to the leaf's devices hierarchy (the `paths` entry whose hierarchy has
 * the devices controller). Resolves false when there is none to write to (cgroup v2).
 */
export async function applyDeviceRules(paths: Readonly<Record<string, string>>, rules: readonly LinuxDeviceCgroup[]): Promise<boolean> {
  const key = Object.keys(paths).find((k) => k.split(',').includes('devices'));
  const dir = key === undefined ? undefined : paths[key];
  if (dir === undefined) return false;
  for (const rule of [...rules, ...runtimeAllowedDevices]) {
    const file = join(dir, rule.allow ? 'devices.allow' : 'devices.deny');
    try {
      await writeFile(file, v1DeviceRule(rule));
    } catch (err) {
      throw new FailedPreconditionError(`Cannot set the device rule "${v1DeviceRule(rule)}" in ${file}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return true;
}
