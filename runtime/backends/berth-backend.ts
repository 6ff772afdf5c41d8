/**
 * berth's own backend: berth-monitor runs berth-helper with a plan (plan.ts), which sets
 * the container up in new namespaces (the rootfs overlay mounted inside its own mount
 * namespace, so nothing is mounted on the host), clones the first process into the cgroup
 * berth prepared, and leaves it waiting on the exec fifo until start opens it (runtime.md
 * "start").
 */
import { constants as fsConstants } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, CreateTaskRequest, CreatedTask, OverlayMount, TaskRef } from '../../common/backend.js';
import { InvalidArgumentError, NotFoundError } from '../../common/errors.js';
import { loadFsx } from '../../common/sys/fsx.js';
import { applyDeviceRules, type ContainerCgroup } from '../../cgroups/index.js';
import type { LinuxResources } from '../../oci/index.js';
import { startMonitor } from '../native.js';
import { buildPlan, type OverlayDirs } from '../plan.js';
import { MonitoredTasks, type MonitoredDeps } from './monitored.js';

const S_IFIFO = 0o010000;

/** The one overlay of a rootfs, as the plan takes it. */
export function overlayDirs(rootfs: readonly OverlayMount[]): OverlayDirs {
  const [overlay, ...rest] = rootfs;
  if (overlay === undefined || rest.length > 0 || overlay.upper === undefined || overlay.work === undefined) {
    throw new InvalidArgumentError('A container\'s rootfs must be one writable overlay');
  }
  return { lowers: overlay.lowers, upper: overlay.upper, work: overlay.work };
}

/** The backend that runs containers with berth-helper. */
export class BerthBackend extends MonitoredTasks implements Backend {
  readonly name = 'berth';

  constructor(deps: MonitoredDeps) {
    super(deps);
  }

  /**
   * The cgroup with its device rules and limits written, before any process is in it (so no
   * process ever runs outside its limits), then the monitor and helper.
   */
  async create(request: CreateTaskRequest): Promise<CreatedTask> {
    const { spec } = request;
    const warnings: string[] = [];
    const cgroup = await this.#cgroup(request, warnings);
    const fifo = join(request.dir, 'exec.fifo');
    loadFsx().mknod(fifo, S_IFIFO | 0o600, 0, 0);
    const plan = buildPlan({
      spec, rootfs: request.rootfsPath, overlay: overlayDirs(request.rootfs), execFifo: fifo,
      cgroup: cgroup.joinTargets(), cgroups: await this.cgroups.view(), init: request.init,
    });
    const created = await startMonitor(this.programs, plan, {
      dir: request.dir, ...request.stdio, oomFile: cgroup.oomFile(), holdPorts: request.holdPorts, exitCommand: request.exitCommand,
    });
    return { ...created, warnings };
  }

  /** A new container's leaf; a container made again keeps its leaf, or gets a new one if it went. */
  async #cgroup(request: CreateTaskRequest, warnings: string[]): Promise<ContainerCgroup> {
    const { spec } = request;
    const make = async (): Promise<ContainerCgroup> => {
      const made = await this.cgroups.create(request.id, request.cgroupParent);
      await applyDeviceRules(made.paths, spec.linux?.resources?.devices ?? []);
      return made;
    };
    if (request.again) {
      // A leaf that went (system prune of an old empty one) is made again.
      return this.cgroups.attach(request.id, request.cgroupParent).catch((err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
        return make();
      });
    }
    const cgroup = await make();
    warnings.push(...cgroup.apply(spec.linux?.resources ?? {}));
    return cgroup;
  }

  /** Opens the exec fifo, on which the first process waits in open(O_WRONLY), and reads its byte. */
  async start(task: TaskRef): Promise<void> {
    const fifo = join(task.dir, 'exec.fifo');
    const fh = await open(fifo, fsConstants.O_RDONLY);
    try {
      await fh.read(Buffer.alloc(1), 0, 1, null);
    } finally {
      await fh.close();
    }
    await unlink(fifo).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    });
  }

  async update(task: TaskRef, resources: LinuxResources): Promise<string[]> {
    const cgroup = await this.cgroups.attach(task.id, task.cgroupParent);
    return cgroup.apply(resources, { updating: true });
  }

  /** Removes the cgroup (killing what is left in it); the helper mounted nothing on the host. */
  async delete(task: TaskRef): Promise<void> {
    await this.removeCgroup(task);
  }
}
