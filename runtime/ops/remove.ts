/**
 * docker rm, container prune, and the reconciling of what crashes left (system prune).
 * rm claims the container by compare-and-set to "removing", with this berth process as its
 * owner: of two removals at once one removes it, the other is told it is in progress; a
 * removal whose berth died is finished by the next `rm -f`. Every step is idempotent.
 */
import { lstat, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError, NotFoundError } from '../../common/errors.js';
import { sameProcess } from '../../common/process.js';
import { trace } from '../../common/trace.js';
import { monitorAlive } from '../host.js';
import { unmountIfMounted } from '../external.js';
import { ownedByMe, ownerAlive, requireAllowed, type ContainerView } from '../state.js';
import { messageOf, type EngineContext } from './context.js';
import { killAll, waitGone } from './stop.js';
import { pollUntil } from '../../common/poll.js';

/** Options of docker rm. */
export interface RemoveOptions {
  readonly force?: boolean | undefined;
  /** A container that does not exist (or is being removed) is no error (the --rm exit command). */
  readonly ifExists?: boolean | undefined;
  /** Its anonymous volumes too (-v). */
  readonly volumes?: boolean | undefined;
}

/**
 * Claims the container for removal: 'claimed', or 'other' when another berth that is
 * alive removes it right now (with ifExists or force, which then wait for it to finish).
 */
async function claim(ctx: EngineContext, view: ContainerView, options: RemoveOptions): Promise<'claimed' | 'other'> {
  for (let attempt = 0; attempt < 5; attempt++) {
    if (view.status === 'removing' && ownerAlive(view.record) && view.record.ownerPid !== process.pid && (options.force === true || options.ifExists === true)) {
      // Two removals at once would race in the same directories: this one waits for the other.
      const id = view.record.id;
      await pollUntil(() => ctx.records.byId(id) === undefined || !ownerAlive(ctx.records.byId(id) ?? view.record), { timeoutMs: 30_000, initialDelayMs: 10, maxDelayMs: 50 });
      const after = ctx.records.byId(id);
      if (after === undefined) return 'other';
      view = ctx.view(after);
      continue;
    }
    try {
      requireAllowed(options.force === true ? 'forceRemove' : 'remove', view);
    } catch (err) {
      throw err;
    }
    if (ctx.records.compareAndSet(view.record.id, [view.record.state], { state: 'removing', ...ownedByMe() })) return 'claimed';
    // The record changed between the look and the write: look again.
    view = ctx.now(view.record.id, view.record.name);
  }
  throw new FailedPreconditionError(`Cannot remove container ${view.record.name}: it keeps changing`, { hint: 'Try again' });
}

/** docker rm: refuses a running container unless `force`, which kills it first. */
export async function removeContainer(ctx: EngineContext, input: string, options: RemoveOptions = {}): Promise<string> {
  let view: ContainerView;
  try {
    view = ctx.find(input);
  } catch (err) {
    if (options.ifExists === true && err instanceof NotFoundError) return input;
    throw err;
  }
  const { record } = view;
  if ((await claim(ctx, view, options)) === 'other') return record.id;
  if (sameProcess(record.pid, record.pidStart)) {
    await killAll(ctx, record);
    await waitGone(record.pid, 10_000);
  }
  trace('rm: killed');
  // The monitor finishes by itself once the container is gone; give it a moment so it
  // does not write into a directory being removed. It exits right after it closes the
  // attach socket, so look again soon, then every 10 ms.
  if (record.monitorPid > 0) await pollUntil(() => !monitorAlive(record.monitorPid), { timeoutMs: 2000, initialDelayMs: 1, maxDelayMs: 10 });
  trace('rm: monitor gone');
  // Another runtime's state, a rootfs it had mounted, the cgroup with whatever is still in
  // it (a create killed after the helper forked, before the pid was recorded).
  await ctx.backendOf(record).delete(ctx.task(record));
  trace('rm: task deleted');
  // The namespace is unmounted (berth-net) while the directory goes.
  await Promise.all([ctx.net.down(record, { release: true }), rm(ctx.dir(record.id), { recursive: true, force: true, maxRetries: 3 })]);
  trace('rm: network down, dir removed');
  ctx.records.delete(record.id);
  if (options.volumes === true) await ctx.removeAnonymousVolumes(record);
  trace('rm: done');
  return record.id;
}

/**
 * docker container prune: removes every container that is not running (exited, dead,
 * created), with its anonymous volumes.
 */
export async function pruneContainers(ctx: EngineContext): Promise<string[]> {
  const removed: string[] = [];
  for (const record of ctx.records.list()) {
    const view = ctx.view(record);
    if (view.running || view.status === 'removing') continue;
    if (view.status === 'created' && view.record.state === 'creating') continue;
    await removeContainer(ctx, view.record.id, { force: true, ifExists: true, volumes: true });
    removed.push(view.record.id);
  }
  return removed;
}

/**
 * Cleans up after crashes: container directories and cgroup leaves that no record
 * names (a create killed before it recorded anything, or a record removed by a crashed
 * rm), rootfs mounts left on the host by another runtime, and networks of containers that
 * are not running. Returns what it removed; what it could not remove is warned about.
 */
export async function reconcileContainers(ctx: EngineContext): Promise<string[]> {
  const known = new Set(ctx.records.list().map((r) => r.id));
  const removed: string[] = [];
  const dirs = await readdir(ctx.deps.layout.containersDir()).catch(() => [] as string[]);
  for (const id of dirs) {
    if (known.has(id) || !/^[0-9a-f]{64}$/.test(id)) continue;
    // A create in progress records its row before it makes the directory: unknown means orphaned.
    try {
      await unmountIfMounted(join(ctx.dir(id), 'rootfs'));
      await rm(ctx.dir(id), { recursive: true, force: true });
      removed.push(`container directory ${id}`);
    } catch (err) {
      ctx.warn(`Could not remove the directory of container ${id}: ${messageOf(err)}`);
    }
  }
  // Stores with other roots share the cgroup parent: only empty leaves that have been
  // around for a minute are taken as orphans (a create joins its leaf within
  // milliseconds, and a container's leaf that goes is made again by its next start).
  for (const id of await ctx.deps.cgroups.leaves()) {
    if (known.has(id) || !/^[0-9a-f]{64}$/.test(id)) continue;
    const cgroup = await ctx.deps.cgroups.attach(id).catch(() => undefined);
    if (cgroup === undefined) continue;
    const ages = await Promise.all(Object.values(cgroup.paths).map(async (p) => Date.now() - ((await lstat(p).catch(() => undefined))?.mtimeMs ?? 0)));
    if (ages.some((age) => age < 60_000)) continue;
    if ((await cgroup.pids()).length > 0) continue;
    try {
      await cgroup.remove();
      removed.push(`cgroup /berth/${id}`);
    } catch (err) {
      ctx.warn(`Could not remove the orphaned cgroup of ${id}: ${messageOf(err)}`);
    }
  }
  // Network namespaces, veth pairs and published ports of containers that are not running
  // (their berth or monitor was killed before the teardown), leases of removed ones.
  const running = (id: string): boolean | undefined => {
    const record = ctx.records.byId(id);
    if (record === undefined) return undefined;
    const view = ctx.view(record);
    return view.running || view.status === 'created' || view.status === 'removing';
  };
  removed.push(...(await ctx.net.reconcile(known, running, () => readdir(ctx.deps.layout.netnsDir()).catch(() => [] as string[]))));
  return removed;
}
