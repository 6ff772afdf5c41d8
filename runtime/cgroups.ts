/**
 * The engine's view of cgroups/: one leaf per container under berth's parent, opened on
 * first use so that commands that touch no container do not read the host's mountinfo.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CgroupManager, defaultCgroupParent, readHostLayout, type ContainerCgroup, type HostLayout } from '../cgroups/index.js';
import type { CgroupView } from './plan.js';

/**
 * What the engine needs from cgroups. `parent` is a container's cgroup parent
 * (--cgroup-parent), the provider's default when undefined.
 *
 * This is berth's cgroupfs driver: leaves made directly in the cgroup filesystem. Where
 * systemd is init, docker and podman default to a systemd driver instead, which asks
 * systemd for a transient scope (a D-Bus StartTransientUnit with Delegate=yes) and writes
 * limits inside it; it would be another implementation of this interface, chosen here by
 * configuration. It cannot be tested on this project's machines (no systemd as PID 1).
 */
export interface CgroupProvider {
  create(id: string, parent?: string): Promise<ContainerCgroup>;
  attach(id: string, parent?: string): Promise<ContainerCgroup>;
  /** The OCI linux.cgroupsPath of the container. */
  cgroupsPath(id: string, parent?: string): Promise<string>;
  /** How the container sees /sys/fs/cgroup. */
  view(): Promise<CgroupView>;
  /** Names of the leaves under the default parent (container ids, and whatever else is there). */
  leaves(): Promise<string[]>;
}

/**
 * The host's cgroups under a parent: each container's --cgroup-parent, else `parent`
 * (berth's configuration `cgroup-parent`, default /berth), which may be given late.
 */
export function hostCgroups(parent: string | (() => Promise<string | undefined>) = defaultCgroupParent): CgroupProvider {
  let layout: Promise<HostLayout> | undefined;
  let fallback: Promise<string> | undefined;
  const managers = new Map<string, CgroupManager>();
  const defaultParent = (): Promise<string> =>
    (fallback ??= typeof parent === 'string' ? Promise.resolve(parent) : parent().then((p) => p ?? defaultCgroupParent));
  const open = async (wanted?: string): Promise<CgroupManager> => {
    const name = wanted ?? (await defaultParent());
    let manager = managers.get(name);
    if (manager === undefined) {
      manager = new CgroupManager({ parent: name, layout: await (layout ??= readHostLayout()) });
      managers.set(name, manager);
    }
    return manager;
  };
  return {
    create: async (id, p) => (await open(p)).create(id),
    attach: async (id, p) => (await open(p)).attach(id),
    cgroupsPath: async (id, p) => (await open(p)).cgroupPathFor(id),
    leaves: async () => {
      const manager = await open();
      const { layout: l } = manager;
      const mounts = [...l.v1, ...(l.unified === undefined ? [] : [l.unified])];
      const names = new Set<string>();
      for (const m of mounts) {
        const entries = await readdir(join(m.mountPoint, manager.parent), { withFileTypes: true }).catch(() => []);
        for (const e of entries) if (e.isDirectory()) names.add(e.name);
      }
      return [...names];
    },
    view: async () => cgroupView((await open()).layout),
  };
}

/** docker's --cgroup-parent: absolute, or relative to the root (the cgroupfs driver's reading). */
export function normalizeCgroupParent(parent: string): string {
  return parent.startsWith('/') ? parent.replace(/\/+$/, '') || '/' : `/${parent.replace(/\/+$/, '')}`;
}

/** How a container sees /sys/fs/cgroup on a host with `layout`. */
export function cgroupView(layout: HostLayout): CgroupView {
  // A hybrid host's cgroup2 mount holds no controllers worth showing: runc shows the v1 ones.
  if (layout.mode === 'v2') return { mode: 'v2' };
  return { mode: 'v1', hierarchies: layout.v1.map((h) => ({ name: h.name, controllers: h.controllers })) };
}
