/**
 * docker start: lets a created container's first process exec its command (runtime.md
 * "start"). A container that has exited is created again first, with the same directory,
 * config and writable layer, so that `start -a` can attach before any output is made.
 * Both steps claim the container by compare-and-set: of two starts at once, one starts it
 * and the other finds it running.
 */
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskRef } from '../../common/backend.js';
import { FailedPreconditionError } from '../../common/errors.js';
import { pollUntil } from '../../common/poll.js';
import { processStartTime } from '../../common/process.js';
import { processMentions } from '../host.js';
import { ownedByMe, ownerAlive, requireAllowed, type ContainerView } from '../state.js';
import { messageOf, type EngineContext } from './context.js';
import { discardTask, exitCommand } from './task.js';
import { UndoStack } from './undo.js';

/** Waits while another berth that is alive creates the container (a start racing this one). */
async function waitForOwner(ctx: EngineContext, view: ContainerView): Promise<ContainerView> {
  const { id, name } = view.record;
  await pollUntil(() => {
    const record = ctx.records.byId(id);
    return record === undefined || record.state !== 'creating' || !ownerAlive(record);
  }, { timeoutMs: 60_000, initialDelayMs: 5, maxDelayMs: 50 });
  return ctx.now(id, name);
}

/** Whether another live berth is creating the container right now. */
function creatingElsewhere(view: ContainerView): boolean {
  return view.record.state === 'creating' && ownerAlive(view.record) && view.record.ownerPid !== process.pid;
}

/**
 * The first half of start: an exited container is created again, its process waiting to
 * be started. Of starts racing each other, one makes it again; the others wait for it.
 */
export async function prepareStart(ctx: EngineContext, input: string): Promise<ContainerView> {
  let view = ctx.find(input);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (creatingElsewhere(view)) view = await waitForOwner(ctx, view);
    requireAllowed('start', view);
    if (view.status !== 'exited') return view;
    const made = await recreate(ctx, view);
    if (made !== undefined) return made;
    view = ctx.now(view.record.id, input);
  }
  throw new FailedPreconditionError(`Cannot start container ${view.record.name}: it keeps changing`, { hint: 'Try again' });
}

/** docker start: a running container is left as it is, as docker leaves it. */
export async function startContainer(ctx: EngineContext, input: string): Promise<ContainerView> {
  let view = await prepareStart(ctx, input);
  for (let attempt = 0; attempt < 5; attempt++) {
    if (view.status === 'running') return view;
    const started = await startCreated(ctx, view);
    if (started !== undefined) return started;
    view = await prepareStart(ctx, view.record.id);
  }
  throw new FailedPreconditionError(`Cannot start container ${view.record.name}: it keeps changing`, { hint: 'Try again' });
}

/**
 * Lets a created container's process run; the record moves to running first, by
 * compare-and-set. Undefined when another start won the record first.
 */
export async function startCreated(ctx: EngineContext, view: ContainerView): Promise<ContainerView | undefined> {
  requireAllowed('start', view);
  if (view.status === 'running') return view;
  const { record } = view;
  if (!ctx.records.compareAndSet(record.id, ['created'], { state: 'running', startedAt: new Date().toISOString() })) return undefined;
  try {
    await ctx.backendOf(record).start(ctx.task(record));
  } catch (err) {
    ctx.records.compareAndSet(record.id, ['running'], { state: 'created', startedAt: record.startedAt });
    throw err;
  }
  return ctx.now(record.id, record.name);
}

/**
 * Creates the process of an exited container again (docker start / restart); undefined
 * when another start claimed it first.
 */
async function recreate(ctx: EngineContext, view: ContainerView): Promise<ContainerView | undefined> {
  const { record } = view;
  // Claim it: of two starts of an exited container, one makes it again.
  if (!ctx.records.compareAndSet(record.id, [record.state], { state: 'creating', ...ownedByMe() })) return undefined;
  const dir = ctx.dir(record.id);
  const undo = new UndoStack();
  // A start that fails leaves the container exited, as it was.
  undo.push('the claim on the container', () => {
    ctx.records.compareAndSet(record.id, ['creating'], { state: 'exited', exitCode: view.exitCode, finishedAt: view.finishedAt, ownerPid: 0, ownerStart: '' });
  });
  return undo.run(async () => {
    const [spec, layers] = await Promise.all([ctx.readSpec(record.id), ctx.imageLayers(record)]);
    for (const f of ['exit.json', 'exec.fifo']) {
      await unlink(join(dir, f)).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
      });
    }
    // The last run's monitor becomes its exit command (`container cleanup`, which tears the
    // network down): let it finish first, or it would tear down the network made here.
    await pollUntil(() => !processMentions(record.monitorPid, record.id), { timeoutMs: 10_000, initialDelayMs: 5, maxDelayMs: 5 });
    await ctx.net.down(record, { release: false });
    undo.push('the network', () => ctx.net.down(record, { release: false }));
    const holdPorts = await ctx.net.up(record.id, record.config);
    const backend = ctx.backendOf(record);
    let task: TaskRef = { ...ctx.task(record), pid: 0, pidStart: '', monitorPid: 0 };
    undo.push('the container\'s processes', () => discardTask(ctx, backend.name, task));
    const { config } = record;
    const created = await backend.create({
      id: record.id, dir, spec, rootfsPath: join(dir, 'rootfs'), rootfs: [ctx.snapshots.mounts(record.id, layers)], cgroupParent: config.cgroupParent,
      stdio: { logPath: ctx.logPath(record.id), logMaxSize: config.logMaxSize, logMaxFiles: config.logMaxFiles, tty: config.tty, stdin: config.openStdin },
      again: true, init: config.init, holdPorts, exitCommand: exitCommand(ctx, record.id, config),
    });
    for (const w of created.warnings) ctx.warn(w);
    const pidStart = processStartTime(created.pid) ?? '';
    task = { ...task, pid: created.pid, pidStart, monitorPid: created.monitorPid };
    const done = ctx.records.compareAndSet(record.id, ['creating'], {
      state: 'created', pid: created.pid, pidStart, monitorPid: created.monitorPid, ownerPid: 0, ownerStart: '',
      restartCount: record.restartCount + (record.startedAt === '' ? 0 : 1),
    });
    if (!done) throw new FailedPreconditionError(`Container ${record.name} was removed while it was being started`);
    return ctx.now(record.id, record.name);
  }, (w) => ctx.warn(w));
}

/** Reports a failure to undo as a warning (for callers outside an undo stack). */
export function warnFailure(ctx: EngineContext, what: string): (err: unknown) => void {
  return (err) => ctx.warn(`${what}: ${messageOf(err)}`);
}
