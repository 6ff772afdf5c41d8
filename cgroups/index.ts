/**
 * cgroups: the host's cgroup hierarchies (v2, v1 or hybrid) and one leaf cgroup per
 * container under berth's parent, joined by the native helper before it execs.
 */
export * from './hierarchy.js';
export * from './leaf.js';
export * from './devices.js';
export * from './resources.js';
export { ControllerMap, type LeafDir } from './control.js';
export type { CgroupStats } from './stats.js';
