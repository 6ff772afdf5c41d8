/**
 * docker wait, kill and stop, and the monitor's cleanup of a container that ended by
 * itself. An exit is recorded once (settle), by compare-and-set from a live state, so a
 * removal or a new start that began meanwhile is not overwritten.
 */
import { FailedPreconditionError } from '../../common/errors.js';
import { pollUntil } from '../../common/poll.js';
import { processStartTime } from '../../common/process.js';
import type { ContainerRecord } from '../containers.js';
import { parseSignal } from '../signals.js';
import { requireAllowed, type ContainerView } from '../state.js';
import { readExit } from '../backends/monitored.js';
import { messageOf, type EngineContext } from './context.js';

/** Records an exit seen in exit.json, once. */
export function settle(ctx: EngineContext, view: ContainerView): void {
  if (view.record.state === 'exited' || view.record.state === 'removing' || view.record.state === 'creating') return;
  ctx.records.compareAndSet(view.record.id, ['created', 'running', 'paused'], {
    state: 'exited', exitCode: view.exitCode, finishedAt: view.finishedAt === '' ? new Date().toISOString() : view.finishedAt,
  });
}

/** Waits until the container has exited; resolves with its view. */
export async function waitContainer(ctx: EngineContext, input: string, options: { signal?: AbortSignal | undefined } = {}): Promise<ContainerView> {
  const id = ctx.find(input).record.id;
  let last: ContainerView | undefined;
  await pollUntil(() => {
    const view = ctx.now(id, input);
    if (view.status === 'created' && view.record.state === 'creating') throw new FailedPreconditionError(`Container ${view.record.name} is being created`);
    last = view;
    return view.status === 'exited' || view.status === 'dead';
  }, { initialDelayMs: 5, maxDelayMs: 100, signal: options.signal });
  if (last === undefined) throw new FailedPreconditionError(`Container ${input} did not exit`);
  settle(ctx, last);
  return last;
}

/** Waits up to `ms` for process `pid` (as it was when called) to be gone. */
export async function waitGone(pid: number, ms: number): Promise<boolean> {
  const start = processStartTime(pid);
  return pollUntil(() => start === undefined || processStartTime(pid) !== start, { timeoutMs: ms, initialDelayMs: 10, maxDelayMs: 10 });
}

/**
 * SIGKILL to every process of the container through its backend (its cgroup: none escapes
 * by forking); a paused container is thawed for it and is running again, as docker records.
 */
export async function killAll(ctx: EngineContext, record: ContainerRecord): Promise<void> {
  await ctx.backendOf(record).kill(ctx.task(record), 9);
  ctx.records.compareAndSet(record.id, ['paused'], { state: 'running' });
}

/** docker kill: sends `signal` to the container's first process (SIGKILL: to all of them). */
export async function killContainer(ctx: EngineContext, input: string, signal: string | number = 'SIGKILL'): Promise<void> {
  const view = ctx.find(input);
  requireAllowed('kill', view);
  const n = typeof signal === 'number' ? signal : parseSignal(signal);
  if (n === 9) await killAll(ctx, view.record);
  else await ctx.backendOf(view.record).kill(ctx.task(view.record), n);
}

/**
 * docker stop: `signal` (else the container's stop signal), then SIGKILL after `timeout`
 * seconds (the container's --stop-timeout, else 10); its network goes down.
 */
export async function stopContainer(ctx: EngineContext, input: string, timeout?: number, signal?: string): Promise<ContainerView> {
  const view = ctx.find(input);
  requireAllowed('stop', view);
  const stopped = await stopView(ctx, view, timeout, signal);
  await ctx.net.down(view.record, { release: false });
  return stopped;
}

async function stopView(ctx: EngineContext, view: ContainerView, timeout?: number, signal?: string): Promise<ContainerView> {
  const { record } = view;
  if (view.status === 'created') {
    // Its process has not run the user's program: nothing to ask politely.
    await ctx.backendOf(record).kill(ctx.task(record), 9);
    await waitGone(record.pid, 5000);
    return waitContainer(ctx, record.id);
  }
  if (!view.running) return view;
  const seconds = timeout ?? record.config.stopTimeout ?? 10;
  const backend = ctx.backendOf(record);
  await backend.kill(ctx.task(record), parseSignal(signal ?? record.config.stopSignal));
  // A frozen process cannot act on the signal: thaw it, as docker does.
  if (view.status === 'paused') {
    try {
      await backend.resume(ctx.task(record));
      ctx.records.compareAndSet(record.id, ['paused'], { state: 'running' });
    } catch (err) {
      ctx.warn(`Could not unpause container ${record.name} to stop it: ${messageOf(err)}`);
    }
  }
  const exited = await pollUntil(() => !ctx.now(record.id).running, { timeoutMs: Math.max(0, seconds) * 1000, initialDelayMs: 20, maxDelayMs: 20 });
  if (!exited) await killAll(ctx, record);
  return waitContainer(ctx, record.id);
}

/**
 * The monitor's exit command for a container that ends by itself (podman's `container
 * cleanup`): its network is torn down; a container that runs again is set up anew.
 */
export async function cleanupContainer(ctx: EngineContext, input: string): Promise<void> {
  const view = ctx.find(input);
  // A start that began meanwhile removed exit.json first: its network is not this run's.
  if (view.status !== 'exited' || readExit(ctx.dir(view.record.id)) === undefined) return;
  await ctx.net.down(view.record, { release: false });
}
