/**
 * Device access rules (config-linux.md "Devices" under resources): on cgroup v1 the
 * devices controller's devices.deny/devices.allow files, written in order before any
 * process joins. cgroup v2 has no such files: there berth-helper attaches a BPF device
 * program to the leaf, as runc and crun do, whose rules {@link deviceProgramRules} gives.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../common/errors.js';
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
  const dir = v1DevicesLeaf(paths);
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

/** The leaf in the v1 hierarchy with the devices controller, among a container's `paths`. */
export function v1DevicesLeaf(paths: Readonly<Record<string, string>>): string | undefined {
  const key = Object.keys(paths).find((k) => k.split(',').includes('devices'));
  return key === undefined ? undefined : paths[key];
}

/**
 * A rule of the BPF device program berth-helper attaches to a cgroup2 leaf
 * (runtime/native/bpf.h): the last rule that matches a request decides it, and a request
 * no rule matches is denied. An allow rule matches a request whose accesses it all grants,
 * a deny rule one that asks for any access it denies.
 */
export interface DeviceProgramRule {
  readonly allow: boolean;
  /** `a` for block and character devices alike. */
  readonly type: 'a' | 'b' | 'c';
  /** -1 for any. */
  readonly major: number;
  /** -1 for any. */
  readonly minor: number;
  /** Some of `r`, `w`, `m`, in that order; never empty. */
  readonly access: string;
}

/** The largest device numbers the kernel makes (MINORBITS is 20 in linux/kdev_t.h). */
const maxMajor = (1 << 12) - 1;
const maxMinor = (1 << 20) - 1;

/**
 * The program rules that decide as the v1 devices controller would after `rules`, then
 * {@link runtimeAllowedDevices}, were written to a leaf that denies everything: so that a
 * container may do the same on a v2 host as on a v1 one, and a hybrid host's two checks
 * agree. runc does the same (opencontainers/cgroups devices/devices_emulator.go); crun
 * instead runs the rules as written, last match first.
 *
 * The controller (security/device_cgroup.c, devcgroup_update_access) keeps a default and
 * exceptions to it. A rule of type `a` sets the default and drops every exception, whatever
 * its numbers and access. A rule against the default adds an exception, merged with one of
 * exactly the same device. A rule that agrees with the default takes its accesses off the
 * exception of exactly its device, and only that one: a deny of `c 1:3` leaves an allowed
 * `c *:* m` as it is. The result is the exceptions, after an allow-all rule when the
 * default is to allow. Exceptions of numbers no device can have are left out.
 * @throws InvalidArgumentError for a rule the controller would refuse.
 */
export function deviceProgramRules(rules: readonly LinuxDeviceCgroup[]): DeviceProgramRule[] {
  let defaultAllow = false;
  let exceptions = new Map<string, { type: 'b' | 'c'; major: number; minor: number; access: Set<string> }>();
  for (const rule of [...rules, ...runtimeAllowedDevices]) {
    checkRule(rule);
    const r = normalize(rule);
    if (r.type === 'a') {
      defaultAllow = rule.allow;
      exceptions = new Map();
      continue;
    }
    const key = `${r.type} ${r.major}:${r.minor}`;
    const existing = exceptions.get(key);
    if (rule.allow !== defaultAllow) {
      const access = existing?.access ?? new Set<string>();
      for (const c of r.access) access.add(c);
      exceptions.set(key, { type: r.type === 'b' ? 'b' : 'c', major: r.major, minor: r.minor, access });
    } else if (existing !== undefined) {
      for (const c of r.access) existing.access.delete(c);
      if (existing.access.size === 0) exceptions.delete(key);
    }
  }
  const out: DeviceProgramRule[] = defaultAllow ? [{ allow: true, type: 'a', major: -1, minor: -1, access: 'rwm' }] : [];
  for (const e of exceptions.values()) {
    if (e.major > maxMajor || e.minor > maxMinor) continue;
    out.push({ allow: !defaultAllow, type: e.type, major: e.major, minor: e.minor, access: [...'rwm'].filter((c) => e.access.has(c)).join('') });
  }
  return out;
}

/** Refuses what the v1 controller's devices.allow and devices.deny would not take. */
function checkRule(rule: LinuxDeviceCgroup): void {
  const problem =
    rule.type !== undefined && !['a', 'b', 'c'].includes(rule.type) ? `type "${String(rule.type)}"`
    : [rule.major, rule.minor].some((n) => n !== undefined && (!Number.isInteger(n) || n > 0xffffffff)) ? `device numbers ${String(rule.major)}:${String(rule.minor)}`
    : rule.access !== undefined && !/^[rwm]*$/.test(rule.access) ? `access "${rule.access}"`
    : undefined;
  if (problem !== undefined) {
    throw new InvalidArgumentError(`Invalid device rule ${JSON.stringify(rule)}: ${problem}`, { hint: 'A rule has type a, b or c, numbers from 0 (or -1 for any) and some of r, w, m as access' });
  }
}

/** A rule's fields as the v1 controller keeps them: type `a`, `b` or `c`; -1 for any number. */
function normalize(rule: LinuxDeviceCgroup): { type: string; major: number; minor: number; access: string } {
  const everyType = rule.type === undefined || rule.type === 'a';
  return {
    type: everyType ? 'a' : rule.type,
    major: everyType || rule.major === undefined || rule.major < 0 ? -1 : rule.major,
    minor: everyType || rule.minor === undefined || rule.minor < 0 ? -1 : rule.minor,
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
