/**
 * A container's files from the host, running or not: docker cp in and out, and diff. A
 * created or running container is reached through its process's root; a stopped one
 * through a berth-helper that holds its filesystem (the rootfs overlay with its volumes and
 * bind mounts, as docker mounts a stopped container's for `docker cp`) in a mount namespace
 * of its own until the copy is done.
 */
import { join } from 'node:path';
import { FailedPreconditionError, NotFoundError } from '../../common/errors.js';
import { sameProcess } from '../../common/process.js';
import { copyFromContainer, copyToContainer } from '../copy.js';
import { containerChanges, type Change } from '../diff.js';
import { holdRootfs } from '../native.js';
import { buildHoldPlan } from '../plan.js';
import type { ContainerView } from '../state.js';
import { overlayDirs } from '../backends/berth-backend.js';
import type { EngineContext } from './context.js';

/**
 * The root of a created or running container's process, `/proc/<pid>/root`; undefined when
 * it has none (it has exited). Refuses a container that is being removed, or whose create
 * never finished. `context` starts the message.
 */
function liveRoot(view: ContainerView, context: string): string | undefined {
  const { record } = view;
  if (view.status === 'removing') throw new FailedPreconditionError(`${context}: it is being removed`);
  if (view.status === 'dead') {
    throw new FailedPreconditionError(`${context}: it is dead (its creation did not finish)`, { hint: `Remove it with "berth rm -f ${record.name}"` });
  }
  if (view.status === 'exited' || !sameProcess(record.pid, record.pidStart)) return undefined;
  return `/proc/${record.pid}/root`;
}

/** Runs `fn` with the container's root as the host reaches it (see the module comment). */
async function withRoot<T>(ctx: EngineContext, view: ContainerView, context: string, fn: (root: string) => Promise<T>): Promise<T> {
  const live = liveRoot(view, context);
  if (live !== undefined) return fn(live);
  const { record } = view;
  const dir = ctx.dir(record.id);
  // The helper joins the container's cgroup, when it still has one: removing the
  // container kills what is in it, and so ends a hold as it would end the container.
  const cgroup = await ctx.deps.cgroups.attach(record.id).catch((err: unknown) => {
    if (err instanceof NotFoundError) return undefined;
    throw err;
  });
  const plan = buildHoldPlan({
    spec: await ctx.readSpec(record.id), rootfs: join(dir, 'rootfs'),
    overlay: overlayDirs([ctx.snapshots.mounts(record.id, await ctx.imageLayers(record))]), cgroup: cgroup?.joinTargets(),
  });
  const held = await holdRootfs(ctx.programs(), plan, `${context}: cannot mount its filesystem`);
  try {
    // Looked at again now that the helper is in the cgroup: a removal that began meanwhile
    // would pull the files from under the copy, and a container started meanwhile is
    // copied through its own root, so that it sees what is written at once.
    const now = ctx.records.byId(record.id);
    if (now === undefined) throw new FailedPreconditionError(`${context}: it is being removed`);
    return await fn(liveRoot(ctx.view(now), context) ?? `/proc/${held.pid}/root`);
  } finally {
    await held.release();
  }
}

/** docker cp out: `path` in the container (running or not) to a host path, or a tar stream. */
export async function copyOut(ctx: EngineContext, input: string, path: string, dest: string | NodeJS.WritableStream, options: { followLink: boolean }): Promise<void> {
  const view = ctx.find(input);
  const { name } = view.record;
  await withRoot(ctx, view, `Cannot copy "${path}" from container "${name}"`, (root) =>
    copyFromContainer(root, path, dest, { followLink: options.followLink, container: name }));
}

/** docker cp in: a host path, or a tar stream, to `path` in the container (running or not). */
export async function copyIn(ctx: EngineContext, input: string, src: string | NodeJS.ReadableStream, path: string, options: { archive: boolean; followLink: boolean }): Promise<void> {
  const view = ctx.find(input);
  const { name } = view.record;
  await withRoot(ctx, view, `Cannot copy "${typeof src === 'string' ? src : '-'}" to "${name}:${path}"`, (root) =>
    copyToContainer(root, src, path, { ...options, container: name }));
}

/** docker diff: what the container changed in its image's filesystem. */
export async function containerDiff(ctx: EngineContext, input: string): Promise<Change[]> {
  const view = ctx.find(input);
  const { record } = view;
  const layers = ctx.snapshots.view(await ctx.imageLayers(record)).lowers;
  const changes = await containerChanges(ctx.snapshots.upperDir(record.id), layers);
  // The mount points berth made in the upper layer (/proc, /dev, /etc/hosts, ...) are not
  // the container's doing: docker keeps them out of diff too (its init layer).
  const spec = await ctx.readSpec(record.id);
  const made = new Set((spec.mounts ?? []).map((m) => m.destination));
  const under = (p: string): boolean => [...made].some((m) => p === m || p.startsWith(`${m}/`));
  const kept = changes.filter((c) => !(c.kind === 'A' && under(c.path)));
  // A directory marked changed only because of those mount points is not changed either.
  return kept.filter((c) => c.kind !== 'C' || kept.some((o) => o !== c && o.path.startsWith(`${c.path}/`)) || !changes.some((o) => o.path.startsWith(`${c.path}/`)));
}
