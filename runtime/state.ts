/**
 * A container's state, in one place: its live status worked out from the record and the
 * machine ({@link containerView}), which operation is allowed in which status
 * ({@link allowed}, with one message per refusal, docker's words where scripts match on
 * them), and the recorded state each operation moves to, written by compare-and-set
 * (ContainerRecords.compareAndSet) so that two berth processes cannot both win
 * (youki's container/state.rs has the same shape of table).
 *
 * Recorded states: creating (a berth process, the owner, is making it) → created (its
 * first process waits for start) → running ⇄ paused → exited (its exit seen and recorded),
 * and removing (the owner is removing it) from any of them. The live status adds what the
 * record cannot know: a created or running container whose monitor recorded an exit is
 * exited; one whose owner died half way through create is dead.
 */
import { FailedPreconditionError, type BerthError } from '../common/errors.js';
import { processStartTime, sameProcess } from '../common/process.js';
import type { TaskExit } from '../common/backend.js';
import type { ContainerRecord, RecordedState } from './containers.js';
import { monitorAlive } from './host.js';

/** A container's live status, docker's words. */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';

/** A record with its live status. */
export interface ContainerView {
  readonly record: ContainerRecord;
  readonly status: ContainerStatus;
  readonly running: boolean;
  readonly exitCode: number;
  readonly finishedAt: string;
  readonly signal: number;
  /** The OOM killer struck while it ran (docker's State.OOMKilled). */
  readonly oomKilled: boolean;
}

/** Whether the berth process that owns a creating or removing record still runs. */
export function ownerAlive(record: ContainerRecord): boolean {
  return record.ownerPid > 0 && sameProcess(record.ownerPid, record.ownerStart);
}

/** The fields that make this berth process the owner of a record. */
export function ownedByMe(): { ownerPid: number; ownerStart: string } {
  return { ownerPid: process.pid, ownerStart: processStartTime(process.pid) ?? '' };
}

/**
 * The live status of `record`; `exit` reads what its monitor recorded (exit.json), which is
 * read again when the first process is gone, in case the monitor wrote it meanwhile.
 */
export function containerView(record: ContainerRecord, exit: () => TaskExit | undefined): ContainerView {
  const base = { record, exitCode: record.exitCode, finishedAt: record.finishedAt, signal: 0, oomKilled: false };
  const exited = (e: TaskExit): ContainerView => ({ ...base, status: 'exited', running: false, exitCode: e.exitCode, finishedAt: e.finishedAt, signal: e.signal, oomKilled: e.oomKilled });
  switch (record.state) {
    case 'creating':
      return { ...base, status: ownerAlive(record) ? 'created' : 'dead', running: false };
    case 'removing':
      return { ...base, status: 'removing', running: false };
    case 'exited':
      return { ...base, status: 'exited', running: false, oomKilled: exit()?.oomKilled === true };
    default:
      break;
  }
  const recorded = exit();
  if (recorded !== undefined) return exited(recorded);
  if (!sameProcess(record.pid, record.pidStart)) {
    // Gone (or a zombie): the monitor reaps it and writes exit.json in a moment, so until
    // then it still counts as running. Only a monitor that died without writing it
    // (killed, or the host rebooted) leaves the status unknown: 255.
    if (monitorAlive(record.monitorPid)) return { ...base, status: 'running', running: true };
    const late = exit();
    if (late !== undefined) return exited(late);
    return { ...base, status: 'exited', running: false, exitCode: 255 };
  }
  // A paused container is running, docker says, with its processes frozen.
  if (record.state === 'created') return { ...base, status: 'created', running: false };
  return { ...base, status: record.state === 'paused' ? 'paused' : 'running', running: true };
}

/** The operations the table knows. */
export type Operation = 'start' | 'stop' | 'kill' | 'pause' | 'unpause' | 'exec' | 'remove' | 'forceRemove' | 'update' | 'stats' | 'pids' | 'attach';

/**
 * Which operation is allowed in which live status. start of a running container, stop of
 * one that is not, and remove of one whose removal was cut short are allowed: they do
 * nothing, or finish the job (docker's start and stop are no-ops there).
 */
const table: Readonly<Record<Operation, readonly ContainerStatus[]>> = {
  start: ['created', 'running', 'exited'],
  stop: ['created', 'running', 'paused', 'exited', 'dead'],
  kill: ['running', 'paused'],
  pause: ['running'],
  unpause: ['paused'],
  exec: ['running'],
  remove: ['created', 'exited', 'dead'],
  forceRemove: ['created', 'running', 'paused', 'exited', 'dead', 'removing'],
  update: ['created', 'running', 'paused', 'exited'],
  stats: ['running', 'paused'],
  pids: ['running', 'paused'],
  attach: ['created', 'running', 'paused'],
};

/** What to do about a container that is not running. */
export function notRunningHint(view: ContainerView): string {
  return view.status === 'created' || view.status === 'exited'
    ? `Start it with "berth start ${view.record.name}"`
    : `It is ${view.status}; "berth ps -a" shows its state`;
}

/** The refusal of `op` in the container's status: one message per case. */
function refusal(op: Operation, view: ContainerView): BerthError {
  const { id, name } = view.record;
  const hint = notRunningHint(view);
  if (view.status === 'removing') {
    return new FailedPreconditionError(`Removal of container ${name} is already in progress`, {
      hint: `If no other berth is removing it, finish the removal with "berth rm -f ${name}"`,
    });
  }
  switch (op) {
    case 'start':
      if (view.status === 'paused') return new FailedPreconditionError(`Cannot start a paused container ${name}`, { hint: `Unpause it with "berth unpause ${name}"` });
      return new FailedPreconditionError(`Container ${name} is ${view.status}`, { hint: `"berth rm -f ${name}" removes it` });
    case 'kill':
      return new FailedPreconditionError(`Cannot kill container: ${name} is not running`, { hint });
    case 'pause':
      if (view.status === 'paused') return new FailedPreconditionError(`Container ${id} is already paused`);
      return new FailedPreconditionError(`Cannot pause container ${name}: it is not running`, { hint });
    case 'unpause':
      return new FailedPreconditionError(`Container ${id} is not paused`);
    case 'exec':
      // docker: "Container X is paused, unpause the container before exec" / "is not running".
      if (view.status === 'paused') return new FailedPreconditionError(`Container ${id} is paused, unpause the container before exec`, { hint: `berth unpause ${name}` });
      return new FailedPreconditionError(`Container ${id} is not running`, { hint });
    case 'remove':
      // docker's words (daemon/delete.go), which scripts match.
      return new FailedPreconditionError(`You cannot remove a ${view.status} container ${id}`, {
        hint: `Stop the container before removing it, or force the removal with "berth rm -f ${name}"`,
      });
    case 'update':
      return new FailedPreconditionError(`Cannot update container ${name}: it is ${view.status}`);
    case 'stats':
      return new FailedPreconditionError(`Cannot read the statistics of container ${name}: it is not running`, { hint });
    case 'attach':
      return new FailedPreconditionError(`You cannot attach to a stopped container, start it first`, { hint: `berth start -a ${name}` });
    default:
      return new FailedPreconditionError(`Container ${id} is not running`, { hint });
  }
}

/** Throws the refusal unless `op` is allowed in the container's status. */
export function requireAllowed(op: Operation, view: ContainerView): void {
  // Another berth is making it right now: only a forced removal may take it from under it
  // (that create then finds it gone and undoes itself).
  if (view.record.state === 'creating' && ownerAlive(view.record) && op !== 'forceRemove') {
    const { name } = view.record;
    throw new FailedPreconditionError(`Container ${name} is being created`, { hint: `Wait for it, or remove it with "berth rm -f ${name}"` });
  }
  if (!table[op].includes(view.status)) throw refusal(op, view);
}

/** The recorded states a compare-and-set expects for `view`: exactly the one read. */
export function expectedState(view: ContainerView): readonly RecordedState[] {
  return [view.record.state];
}
