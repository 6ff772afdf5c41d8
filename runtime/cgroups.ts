/**
 * The engine's view of cgroups/: one leaf per container under berth's parent, opened on
 * first use so that commands that touch no container do not read the host's mountinfo.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CgroupManager, defaultCgroupParent, type ContainerCgroup, type HostLayout } from '../cgroups/index.js';
import type { CgroupView } from './plan.js';

/** What the engine needs from cgroups. */
export interface CgroupProvider {
  create(id: string): Promise<ContainerCgroup>;
  attach(id: string): Promise<ContainerCgroup>;
  /** The OCI linux.cgroupsPath of the container. */
  cgroupsPath(id: string): string;
  /** How the container sees /sys/fs/cgroup. */
  view(): Promise<CgroupView>;
  /** Names of the leaves under the parent (container ids, and whatever else is there). */
  leaves(): Promise<string[]>;
}

/** The host's cgroups under `parent` (berth's config or --cgroup-parent; default /berth). */
export function hostCgroups(parent: string = defaultCgroupParent): CgroupProvider {
  let manager: Promise<CgroupManager> | undefined;
  const open = (): Promise<CgroupManager> => (manager ??= CgroupManager.open({ parent }));
  return {
    create: async (id) => (await open()).create(id),
    attach: async (id) => (await open()).attach(id),
    cgroupsPath: (id) => `${parent}/${id}`,
    leaves: async () => {
      const { layout } = await open();
      const mounts = [...layout.v1, ...(layout.unified === undefined ? [] : [layout.unified])];
      const names = new Set<string>();
      for (const m of mounts) {
        const entries = await readdir(join(m.mountPoint, parent), { withFileTypes: true }).catch(() => []);
        for (const e of entries) if (e.isDirectory()) names.add(e.name);
      }
      return [...names];
    },
    view: async () => cgroupView((await open()).layout),
  };
}

/** How a container sees /sys/fs/cgroup on a host with `layout`. */
export function cgroupView(layout: HostLayout): CgroupView {
  // A hybrid host's cgroup2 mount holds no controllers worth showing: runc shows the v1 ones.
  if (layout.mode === 'v2') return { mode: 'v2' };
  return { mode: 'v1', hierarchies: layout.v1.map((h) => ({ name: h.name, controllers: h.controllers })) };
}
