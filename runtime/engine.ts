/**
 * The container engine: the facade every front end (the CLI, the API server) drives, over
 * the operations of runtime/ops/ (create, start, stop, remove, exec, files, limits), the
 * state table (state.ts), the backends (backends/) and the snapshotter (image/). A
 * container is a directory in the store (StateLayout.containerDir), a row in the metadata
 * database (containers.ts), and, while it lives, a task of its backend under a
 * berth-monitor that is the parent of its first process.
 */
import { join } from 'node:path';
import { Snapshotter } from '../image/index.js';
import type { Attachment, PublishedPort } from '../network/index.js';
import { ContainerNetworks } from './container-network.js';
import { ContainerRecords, type ContainerRecord } from './containers.js';
import type { Change } from './diff.js';
import { isValidName } from './names.js';
import { EngineContext, type EngineDeps } from './ops/context.js';
import { createContainer, type CreateOptions } from './ops/create.js';
import { execInContainer, type ExecOptions } from './ops/exec.js';
import { containerDiff, copyIn, copyOut } from './ops/files.js';
import { containerStats, pauseContainer, unpauseContainer, updateContainer, type ContainerStats } from './ops/limits.js';
import { pruneContainers, reconcileContainers, removeContainer, type RemoveOptions } from './ops/remove.js';
import { prepareStart, startContainer } from './ops/start.js';
import { cleanupContainer, killContainer, stopContainer, waitContainer } from './ops/stop.js';
import type { ResourceConfig } from './resources.js';
import { requireAllowed, type ContainerView } from './state.js';
import { InvalidArgumentError } from '../common/errors.js';
import type { VolumeStore } from './volumes.js';
import { VolumeStore as Volumes } from './volumes.js';

export type { EngineDeps, PullPolicy } from './ops/context.js';
export type { CreateOptions } from './ops/create.js';
export type { ExecOptions } from './ops/exec.js';
export type { ContainerStatus, ContainerView } from './state.js';

/** Container lifecycle, for every front end. */
export class ContainerEngine {
  readonly #ctx: EngineContext;

  constructor(deps: EngineDeps) {
    const records = new ContainerRecords(deps.db);
    const net = new ContainerNetworks(deps.layout, deps.network, (id) => deps.layout.containerDir(id));
    this.#ctx = new EngineContext(deps, { records, volumes: new Volumes(deps.db, deps.layout), net, snapshots: new Snapshotter(deps.layout) });
  }

  get records(): ContainerRecords {
    return this.#ctx.records;
  }

  get volumes(): VolumeStore {
    return this.#ctx.volumes;
  }

  /** Names of the containers that mount each volume. */
  volumeUsers(): Map<string, string[]> {
    return this.#ctx.volumeUsers();
  }

  /** The container's directory. */
  dir(id: string): string {
    return this.#ctx.dir(id);
  }

  /** Where the container's network namespace is mounted while it runs on a network. */
  netnsPath(id: string): string {
    return this.#ctx.deps.layout.netnsPath(id);
  }

  /** The json-file log of a container. */
  logPath(id: string): string {
    return this.#ctx.logPath(id);
  }

  /** Finds a container by name, id or id prefix, with its live status. */
  find(input: string): ContainerView {
    return this.#ctx.find(input);
  }

  list(): ContainerView[] {
    return this.#ctx.records.list().map((r) => this.#ctx.view(r));
  }

  /** Works out the live status from the record, exit.json and the processes. */
  view(record: ContainerRecord): ContainerView {
    return this.#ctx.view(record);
  }

  /** docker create; nothing is left behind when it fails. */
  create(options: CreateOptions): Promise<ContainerView> {
    return createContainer(this.#ctx, options);
  }

  /** docker start (an exited container is created again first). */
  start(input: string): Promise<ContainerView> {
    return startContainer(this.#ctx, input);
  }

  /** The first half of start, so that `start -a` can attach before any output is made. */
  prepareStart(input: string): Promise<ContainerView> {
    return prepareStart(this.#ctx, input);
  }

  /** Waits until the container has exited; resolves with its view. */
  wait(input: string, options: { signal?: AbortSignal } = {}): Promise<ContainerView> {
    return waitContainer(this.#ctx, input, options);
  }

  /** docker kill: `signal` to the first process (SIGKILL, the default: to all of them). */
  kill(input: string, signal: string | number = 'SIGKILL'): Promise<void> {
    return killContainer(this.#ctx, input, signal);
  }

  /** docker stop: the stop signal, then SIGKILL after the timeout. */
  stop(input: string, timeout?: number, signal?: string): Promise<ContainerView> {
    return stopContainer(this.#ctx, input, timeout, signal);
  }

  /** The monitor's exit command for a container on a network that ended by itself. */
  cleanup(input: string): Promise<void> {
    return cleanupContainer(this.#ctx, input);
  }

  /** docker rm. */
  remove(input: string, options: RemoveOptions = {}): Promise<string> {
    return removeContainer(this.#ctx, input, options);
  }

  /** docker container prune. */
  prune(): Promise<string[]> {
    return pruneContainers(this.#ctx);
  }

  /** Cleans up after crashes (system prune); returns what it removed. */
  reconcile(): Promise<string[]> {
    return reconcileContainers(this.#ctx);
  }

  /** docker rename. */
  rename(input: string, name: string): void {
    if (!isValidName(name)) throw new InvalidArgumentError(`Invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    this.#ctx.records.rename(this.find(input).record.id, name.replace(/^\//, ''));
  }

  /** docker exec; resolves with the process's exit status (0 at once with `detach`). */
  exec(input: string, options: ExecOptions): Promise<number> {
    return execInContainer(this.#ctx, input, options);
  }

  /** The attach socket of a running or created container, reachable whatever the path length. */
  attachSocket(view: ContainerView, which: 'attach' | 'ctl' = 'attach'): string {
    // sun_path holds 108 bytes: go through the monitor's cwd, which is the container's directory.
    return `/proc/${view.record.monitorPid}/cwd/${which}`;
  }

  /** The host pids of every process of a running container (from its cgroup). */
  async pids(input: string): Promise<number[]> {
    const view = this.find(input);
    requireAllowed('pids', view);
    const cgroup = await this.#ctx.deps.cgroups.attach(view.record.id, view.record.config.cgroupParent);
    return cgroup.pids();
  }

  /** docker network connect: a lease, and an interface while it runs; hosts and resolv.conf rewritten. */
  async connect(network: string, input: string, options: { ip?: string | undefined; aliases?: readonly string[] | undefined } = {}): Promise<void> {
    await this.#ctx.net.connect(this.find(input), network, options);
  }

  /** docker network disconnect. */
  async disconnect(network: string, input: string): Promise<void> {
    await this.#ctx.net.disconnect(this.find(input).record, network);
  }

  /** A container's networks and published ports (inspect, port, ps). */
  networkSettings(record: ContainerRecord): Promise<{ attachments: Attachment[]; ports: PublishedPort[] }> {
    return this.#ctx.net.settings(record);
  }

  /** Resource usage of a running container. */
  stats(view: ContainerView): Promise<ContainerStats> {
    return containerStats(this.#ctx, view);
  }

  /** docker pause. */
  pause(input: string): Promise<void> {
    return pauseContainer(this.#ctx, this.find(input));
  }

  /** docker unpause. */
  unpause(input: string): Promise<void> {
    return unpauseContainer(this.#ctx, this.find(input));
  }

  /** docker update: new limits, at once when it runs and for its next start; docker's warnings. */
  update(input: string, changes: Partial<ResourceConfig>): Promise<string[]> {
    return updateContainer(this.#ctx, this.find(input), changes);
  }

  /** docker cp out. */
  copyOut(input: string, path: string, dest: string | NodeJS.WritableStream, options: { followLink: boolean }): Promise<void> {
    return copyOut(this.#ctx, input, path, dest, options);
  }

  /** docker cp in. */
  copyIn(input: string, src: string | NodeJS.ReadableStream, path: string, options: { archive: boolean; followLink: boolean }): Promise<void> {
    return copyIn(this.#ctx, input, src, path, options);
  }

  /** docker diff: what the container changed in its image's filesystem. */
  changes(input: string): Promise<Change[]> {
    return containerDiff(this.#ctx, input);
  }

  /**
   * A container's root filesystem on the host (inspect's GraphDriver, ps --size): the
   * directory it is mounted on and its writable layer, from the snapshotter.
   */
  rootfsDirs(id: string): { readonly merged: string; readonly upper: string; readonly work: string } {
    return { merged: join(this.#ctx.dir(id), 'rootfs'), ...this.#ctx.snapshots.writable(id) };
  }

  /** Image ids that containers use, each with one such container's id. */
  imagesInUse(): Map<string, string> {
    return this.#ctx.records.imagesInUse();
  }
}

export { parseSignal } from './signals.js';
export { readImageFile } from './host.js';
