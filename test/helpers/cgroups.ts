/** Cgroups a test made through berth, found and removed in every hierarchy. */
import { existsSync } from 'node:fs';
import { readdir, rmdir } from 'node:fs/promises';
import { join } from 'node:path';

/** The directories of cgroup `relative` (below each hierarchy's mount, and the cgroup2 root) that exist. */
export async function cgroupDirs(relative: string): Promise<string[]> {
  const base = '/sys/fs/cgroup';
  const hierarchies = await readdir(base).catch(() => [] as string[]);
  return ['', ...hierarchies].map((h) => join(base, h, relative)).filter((d) => existsSync(d));
}

/**
 * Removes cgroup `relative` where it is empty (rmdir(2) refuses one with processes or
 * children: one another test still uses stays). For berth oci's default parent,
 * /berth-oci, which `berth oci delete` leaves for the next container, as berth leaves /berth.
 */
export async function removeEmptyCgroup(relative: string): Promise<void> {
  for (const dir of await cgroupDirs(relative)) await rmdir(dir).catch(() => undefined);
}
