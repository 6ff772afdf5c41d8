/**
 * What every backend that runs its task under berth-monitor shares (berth's helper and
 * other OCI runtimes alike): the monitor is the parent of the first process and records its
 * exit in exit.json, the task's processes are in its cgroup, and exec goes through
 * berth-helper, which joins the container's namespaces and cgroup whatever made them (as
 * podman's conmon-driven exec does not, berth does not ask runc to exec: one code path).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ExecProcessSpec, ExecStdio, ExecTask, TaskExit, TaskRef, TaskStats } from '../../common/backend.js';
import { FailedPreconditionError, NotFoundError } from '../../common/errors.js';
import { poll } from '../../common/poll.js';
import { sameProcess } from '../../common/process.js';
import type { ContainerCgroup } from '../../cgroups/index.js';
import type { CgroupProvider } from '../cgroups.js';
import { monitorAlive } from '../host.js';
import { runExec, type NativePrograms } from '../native.js';
import { buildExecPlan } from '../plan.js';
import { parseExitRecord } from '../protocol.js';

/** What the monitored backends are built from. */
export interface MonitoredDeps {
  readonly cgroups: CgroupProvider;
  /** berth's native programs, looked up on first use. */
  readonly programs: () => NativePrograms;
}

function errno(err: unknown): string | undefined {
  return err !== null && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Sends `signal` to the task's first process, if it is still the one recorded. */
export function signalFirst(task: TaskRef, signal: number): void {
  if (!sameProcess(task.pid, task.pidStart)) return;
  try {
    process.kill(task.pid, signal);
  } catch (err) {
    if (errno(err) !== 'ESRCH') throw err;
  }
}

/**
 * The exit the monitor recorded in the task's directory, or undefined while there is none.
 * Synchronous: small, and read on every status query, where a round trip through libuv's
 * pool costs more than the read.
 */
export function readExit(dir: string): TaskExit | undefined {
  let text: string;
  try {
    text = readFileSync(join(dir, 'exit.json'), 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
  try {
    const r = parseExitRecord(text);
    return { exitCode: r.exitCode, signal: r.signal, finishedAt: r.finishedAt, oomKilled: r.oomKilled };
  } catch {
    // Half-written cannot be (the monitor renames it into place): unreadable is no record.
    return undefined;
  }
}

/** The task operations that do not depend on who created the task. */
export class MonitoredTasks {
  readonly #deps: MonitoredDeps;

  constructor(deps: MonitoredDeps) {
    this.#deps = deps;
  }

  get programs(): NativePrograms {
    return this.#deps.programs();
  }

  get cgroups(): CgroupProvider {
    return this.#deps.cgroups;
  }

  /** The task's cgroup, or undefined when it has none (gone, or never made). */
  async cgroupOf(task: TaskRef): Promise<ContainerCgroup | undefined> {
    return this.#deps.cgroups.attach(task.id, task.cgroupParent).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
  }

  async #requireCgroup(task: TaskRef): Promise<ContainerCgroup> {
    return this.#deps.cgroups.attach(task.id, task.cgroupParent);
  }

  /**
   * `signal` to the first process; SIGKILL through the cgroup to every process, none
   * escaping by a fork (v2 cgroup.kill; v1 freeze, signal, thaw), and to the first process
   * directly too, for a task whose cgroup is gone.
   */
  async kill(task: TaskRef, signal: number): Promise<void> {
    signalFirst(task, signal);
    if (signal !== 9) return;
    const cgroup = await this.cgroupOf(task);
    if (cgroup !== undefined) await cgroup.signalAll('SIGKILL');
  }

  /** Runs `process` in the task through berth-helper, which joins its cgroup and namespaces. */
  async exec(task: TaskRef, process: ExecProcessSpec, options: { readonly namespaces: readonly string[]; readonly stdio: ExecStdio }): Promise<ExecTask> {
    const cgroup = await this.#requireCgroup(task);
    const plan = buildExecPlan({
      process, pid: task.pid, namespaces: options.namespaces, cgroup: cgroup.joinTargets(), pipes: { stdin: options.stdio.stdin },
    });
    // Looked at again right before the helper joins: the task may have exited meanwhile.
    if (!sameProcess(task.pid, task.pidStart)) throw new FailedPreconditionError(`Container ${task.id} is not running`);
    return runExec(this.programs, plan, options.stdio);
  }

  async pause(task: TaskRef): Promise<void> {
    await (await this.#requireCgroup(task)).freeze();
  }

  async resume(task: TaskRef): Promise<void> {
    await (await this.#requireCgroup(task)).thaw();
  }

  /**
   * The cgroup's usage, and the bytes through the network interfaces of the task's network
   * namespace but lo (/proc/PID/net/dev).
   */
  async stats(task: TaskRef): Promise<TaskStats> {
    const cgroup = await this.#requireCgroup(task);
    let netRx = 0;
    let netTx = 0;
    let dev = '';
    try {
      dev = readFileSync(`/proc/${task.pid}/net/dev`, 'utf8');
    } catch {
      // gone meanwhile: no network figures
    }
    for (const line of dev.split('\n').slice(2)) {
      const [name, rest] = line.split(':');
      if (name === undefined || rest === undefined || name.trim() === 'lo') continue;
      const fields = rest.trim().split(/\s+/).map(Number);
      netRx += fields[0] ?? 0;
      netTx += fields[8] ?? 0;
    }
    return { ...cgroup.stats(), netRx, netTx, read: Date.now() };
  }

  /**
   * Resolves once exit.json is there. A first process that is gone while its monitor is
   * gone too, with no record (killed, or the host rebooted), has exit status 255, unknown.
   */
  async wait(task: TaskRef, options: { readonly signal?: AbortSignal | undefined } = {}): Promise<TaskExit> {
    const result = await poll(() => {
      const exit = readExit(task.dir);
      if (exit !== undefined) return exit;
      if (sameProcess(task.pid, task.pidStart) || monitorAlive(task.monitorPid)) return undefined;
      // The monitor may have written it and gone between the first look and this one.
      return readExit(task.dir) ?? { exitCode: 255, signal: 0, finishedAt: '', oomKilled: false };
    }, { initialDelayMs: 5, maxDelayMs: 100, signal: options.signal });
    if (!result.done) throw new FailedPreconditionError(`Container ${task.id} did not exit`);
    return result.value;
  }

  /**
   * Removes the task's cgroup, killing what is still in it (a create killed after the
   * helper forked, before the pid was recorded); a cgroup already gone is fine.
   */
  async removeCgroup(task: TaskRef): Promise<void> {
    await (await this.cgroupOf(task))?.remove({ kill: true });
  }
}
