/**
 * cgroups: the host's cgroup hierarchies (v2, v1 or hybrid) and one leaf cgroup per
 * container under berth's parent, joined by the native helper before it execs.
 */
export * from './hierarchy.js';
export * from './leaf.js';
export * from './devices.js';
