/**
 * Another OCI runtime (runc, crun, or a path) in berth's place, for `--runtime`. As podman
 * does with them: the overlay rootfs is mounted on the host (they take a directory),
 * config.json in the container's directory is the bundle, and the monitor runs
 * `<runtime> create` instead of berth-helper; start, update and delete are the runtime's own
 * commands (runtime.md "Operations"). The runtime makes the container's cgroup itself, at
 * the spec's cgroupsPath, which is where berth looks for it. exec, kill, pause and stats go
 * through the cgroup and berth-helper as for berth's own containers (monitored.ts).
 */
import { writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, CreateTaskRequest, CreatedTask, TaskRef } from '../../common/backend.js';
import { NotFoundError } from '../../common/errors.js';
import type { LinuxResources } from '../../oci/index.js';
import { createArgs, deleteFromRuntime, findRuntime, mountOverlay, runtimeCommand, unmountIfMounted, type ExternalRuntime } from '../external.js';
import { startMonitor } from '../native.js';
import { overlayDirs } from './berth-backend.js';
import { MonitoredTasks, type MonitoredDeps } from './monitored.js';

/** What the backend needs besides the monitored deps: where the runtimes keep their state. */
export interface OciBackendDeps extends MonitoredDeps {
  /** `<store>/runtimes`: each runtime's --root is a directory below it. */
  readonly stateRoot: string;
}

/** The backend that runs containers with another OCI runtime. */
export class OciRuntimeBackend extends MonitoredTasks implements Backend {
  readonly name: string;
  readonly #stateRoot: string;
  #runtime: Promise<ExternalRuntime> | undefined;

  /** `name`: runc, crun, or an absolute path, as --runtime gives it. */
  constructor(name: string, deps: OciBackendDeps) {
    super(deps);
    this.name = name;
    this.#stateRoot = deps.stateRoot;
  }

  /** The runtime's binary and state root (looked up on PATH once). */
  runtime(): Promise<ExternalRuntime> {
    this.#runtime ??= findRuntime(this.name, this.#stateRoot);
    this.#runtime.catch(() => {
      this.#runtime = undefined;
    });
    return this.#runtime;
  }

  async create(request: CreateTaskRequest): Promise<CreatedTask> {
    const rt = await this.runtime();
    // A container made again: what its last run left in the runtime's state goes first.
    if (request.again) await deleteFromRuntime(rt, request.id);
    const { lowers, upper, work } = overlayDirs(request.rootfs);
    await unmountIfMounted(request.rootfsPath);
    await mountOverlay(lowers, upper, work, request.rootfsPath);
    try {
      const created = await startMonitor(this.programs, Buffer.alloc(0), {
        dir: request.dir, ...request.stdio, holdPorts: request.holdPorts, exitCommand: request.exitCommand,
        extraArgs: createArgs(rt, request.dir, request.id, { tty: request.stdio.tty }),
      });
      return { ...created, warnings: [] };
    } catch (err) {
      await unmountIfMounted(request.rootfsPath);
      throw err;
    }
  }

  async start(task: TaskRef): Promise<void> {
    await runtimeCommand(await this.runtime(), ['start', task.id]);
  }

  /** `<runtime> update --resources FILE` (runc's command; crun has the same). */
  async update(task: TaskRef, resources: LinuxResources): Promise<string[]> {
    const file = join(task.dir, 'update.json');
    writeFileSync(file, JSON.stringify(resources));
    try {
      await runtimeCommand(await this.runtime(), ['update', '--resources', file, task.id]);
    } finally {
      await unlink(file).catch((err: unknown) => {
        if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
      });
    }
    return [];
  }

  /**
   * `<runtime> delete --force` (a container it does not know is fine), the host mount of the
   * rootfs, and the cgroup, which runc leaves behind when it did not get to delete.
   */
  async delete(task: TaskRef): Promise<void> {
    // A runtime no longer installed has nothing berth can ask it to delete: its state goes
    // with the store's runtimes/ directory.
    const rt = await this.runtime().catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    if (rt !== undefined) await deleteFromRuntime(rt, task.id);
    await unmountIfMounted(join(task.dir, 'rootfs'));
    await this.removeCgroup(task);
  }
}
