/**
 * Device access rules (config-linux.md "Devices" under resources): on cgroup v1 the
 * devices controller's devices.deny/devices.allow files, written in order before any
 * process joins. cgroup v2 has no such files (runc and crun attach an eBPF program there);
 * berth does not load one yet, so on a v2 host the rules are not enforced: the caller is
 * told, so that it can say so.
 */
import { writeFileSync } from 'node:fs';
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

/** One write to the v1 devices controller: the file and the line. */
export interface V1DeviceWrite {
  readonly file: 'devices.allow' | 'devices.deny';
  readonly line: string;
}

/**
 * The writes that apply `rules`, then {@link runtimeAllowedDevices}, in order, leaving out
 * each allow rule that an earlier allow already grants (docker's defaults and the
 * runtime's own name the same six devices; a privileged container's `a *:* rwm` grants all
 * the runtime's).
 */
export function v1DeviceWrites(rules: readonly LinuxDeviceCgroup[]): V1DeviceWrite[] {
  const all = [...rules, ...runtimeAllowedDevices];
  return all
    .filter((_rule, index) => !isGrantedBefore(all, index))
    .map((rule) => ({ file: rule.allow ? 'devices.allow' : 'devices.deny', line: v1DeviceRule(rule) }));
}

/**
 * Applies `rules`, then {@link runtimeAllowedDevices}, to the leaf's devices hierarchy (the
 * `paths` entry whose hierarchy has the devices controller), as {@link v1DeviceWrites} says.
 * Resolves false when there is none to write to (cgroup v2). The writes are synchronous:
 * each takes microseconds in the kernel, where an awaited fs/promises write costs three
 * threadpool round trips (open, write, close).
 */
export async function applyDeviceRules(paths: Readonly<Record<string, string>>, rules: readonly LinuxDeviceCgroup[]): Promise<boolean> {
  const key = Object.keys(paths).find((k) => k.split(',').includes('devices'));
  const dir = key === undefined ? undefined : paths[key];
  if (dir === undefined) return false;
  for (const { file, line } of v1DeviceWrites(rules)) {
    const path = join(dir, file);
    try {
      writeFileSync(path, line);
    } catch (err) {
      throw new FailedPreconditionError(`Cannot set the device rule "${line}" in ${path}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }
  return true;
}

/** A rule's fields as the v1 controller keeps them: type `a`, `b` or `c`; -1 for any number. */
function normalize(rule: LinuxDeviceCgroup): { type: string; major: number; minor: number; access: string } {
  const any = rule.type === undefined || rule.type === 'a';
  return {
    type: any ? 'a' : rule.type,
    major: any || rule.major === undefined || rule.major < 0 ? -1 : rule.major,
    minor: any || rule.minor === undefined || rule.minor < 0 ? -1 : rule.minor,
    access: rule.access === undefined || rule.access === '' ? 'rwm' : rule.access,
  };
}

/**
 * True when `rules[index]` is an allow rule whose write would change nothing the container
 * may do: an earlier allow covers the device (the same one, or a wider one: `a`, a `*`
 * number) with every access it asks for, and no deny in between might touch the device.
 * The v1 controller (Documentation/admin-guide/cgroup-v1/devices.rst, security/device_cgroup.c)
 * keeps a default and a list of exceptions. By default deny, the earlier exception already
 * grants the access. By default allow, an allow removes a deny exception of exactly its
 * device, and only a deny written in between could have made one. A deny "touches" when it
 * might match at all, wildcards included, which keeps more rules than needed, never fewer.
 */
function isGrantedBefore(rules: readonly LinuxDeviceCgroup[], index: number): boolean {
  const rule = rules[index];
  if (rule?.allow !== true) return false;
  const wanted = normalize(rule);
  const overlap = (n: number, m: number): boolean => n === -1 || m === -1 || n === m;
  for (const earlier of rules.slice(0, index).reverse()) {
    const e = normalize(earlier);
    if (!earlier.allow) {
      const touches = (e.type === 'a' || wanted.type === 'a' || e.type === wanted.type) && overlap(e.major, wanted.major) && overlap(e.minor, wanted.minor);
      if (touches) return false;
      continue;
    }
    const covers = (e.type === 'a' || e.type === wanted.type) && (e.major === -1 || e.major === wanted.major) &&
      (e.minor === -1 || e.minor === wanted.minor) && [...wanted.access].every((c) => e.access.includes(c));
    if (covers) return true;
  }
  return false;
}
