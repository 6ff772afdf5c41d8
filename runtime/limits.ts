/**
 * A running container's limits and usage (engine.ts delegates here): docker's pause,
 * unpause, update and stats, through the container's cgroup (cgroups/), or through the
 * other OCI runtime's `update` for a container it runs.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { FailedPreconditionError } from '../common/errors.js';
import type { CgroupStats, ContainerCgroup } from '../cgroups/index.js';
import type { RuntimeSpec } from '../oci/index.js';
import type { CgroupProvider } from './cgroups.js';
import type { ContainerRecord, ContainerRecords } from './containers.js';
import { runtimeCommand, type ExternalRuntime } from './external.js';
import { hostResources } from './host.js';
import { checkResources, noResources, normalizeResources, ociResources, type ResourceConfig } from './resources.js';

/** What `stats` shows of one container at one moment. */
export interface ContainerStats extends CgroupStats {
  readonly netRx: number;
  readonly netTx: number;
  /** When it was read, ms since the epoch. */
  readonly read: number;
}

/** A container as these operations need it (engine.ts ContainerView). */
export interface LimitsView {
  readonly record: ContainerRecord;
  readonly status: string;
  readonly running: boolean;
}

/** What to do about a container that is not running. */
export function notRunningHint(view: LimitsView): string {
  return view.status === 'created' || view.status === 'exited'
    ? `Start it with "berth start ${view.record.name}"`
    : `It is ${view.status}; "berth ps -a" shows its state`;
}

export class ContainerLimits {
  readonly #records: ContainerRecords;
  readonly #cgroups: CgroupProvider;
  readonly #dir: (id: string) => string;
  readonly #runtime: (name: string) => Promise<ExternalRuntime>;

  constructor(records: ContainerRecords, cgroups: CgroupProvider, dir: (id: string) => string, runtime: (name: string) => Promise<ExternalRuntime>) {
    this.#records = records;
    this.#cgroups = cgroups;
    this.#dir = dir;
    this.#runtime = runtime;
  }

  /** The cgroup of a running container. */
  async #runningCgroup(view: LimitsView, action: string): Promise<ContainerCgroup> {
    if (!view.running) {
      throw new FailedPreconditionError(`Cannot ${action} container ${view.record.name}: it is not running`, { hint: notRunningHint(view) });
    }
    return this.#cgroups.attach(view.record.id, view.record.config.cgroupParent);
  }

  /**
   * Resource usage of a running container: its cgroup's, and the bytes through the network
   * interfaces of its network namespace but lo (/proc/PID/net/dev).
   */
  async stats(view: LimitsView): Promise<ContainerStats> {
    const cgroup = await this.#runningCgroup(view, 'read the statistics of');
    let netRx = 0;
    let netTx = 0;
    let dev = '';
    try {
      dev = readFileSync(`/proc/${view.record.pid}/net/dev`, 'utf8');
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

  /** docker pause: freezes every process of the container (v1 freezer, v2 cgroup.freeze). */
  async pause(view: LimitsView): Promise<void> {
    if (view.status === 'paused') throw new FailedPreconditionError(`Container ${view.record.id} is already paused`);
    const cgroup = await this.#runningCgroup(view, 'pause');
    await cgroup.freeze();
    this.#records.update(view.record.id, { state: 'paused' });
  }

  /** docker unpause. */
  async unpause(view: LimitsView): Promise<void> {
    if (view.status !== 'paused') throw new FailedPreconditionError(`Container ${view.record.id} is not paused`);
    const cgroup = await this.#cgroups.attach(view.record.id, view.record.config.cgroupParent);
    await cgroup.thaw();
    this.#records.update(view.record.id, { state: 'running' });
  }

  /**
   * docker update: new limits for a container, written to its cgroup at once when it runs
   * (and kept for its next start). Checked as at create; returns docker's warnings.
   */
  async update(view: LimitsView, changes: Partial<ResourceConfig>): Promise<string[]> {
    const { record } = view;
    if (view.status === 'removing' || view.status === 'dead') throw new FailedPreconditionError(`Cannot update container ${record.name}: it is ${view.status}`);
    const before = record.config.resources ?? noResources;
    // A new --memory without --memory-swap keeps docker's "as much swap again" rule only
    // when swap was at its default before.
    const memorySwap = changes.MemorySwap ?? (changes.Memory !== undefined && before.MemorySwap === 2 * before.Memory ? 0 : before.MemorySwap);
    const resources = normalizeResources({ ...before, ...changes, MemorySwap: memorySwap });
    const warnings = checkResources(resources, hostResources());
    const oci = ociResources(resources);
    const dir = this.#dir(record.id);
    if (view.running && record.config.runtime === 'berth') {
      const cgroup = await this.#cgroups.attach(record.id, record.config.cgroupParent);
      warnings.push(...cgroup.apply(oci.resources, { updating: true }));
    } else if (view.running) {
      const file = join(dir, 'update.json');
      writeFileSync(file, JSON.stringify(oci.resources));
      try {
        await runtimeCommand(await this.#runtime(record.config.runtime), ['update', '--resources', file, record.id]);
      } finally {
        await unlink(file).catch(() => undefined);
      }
    }
    this.#records.updateConfig(record.id, { ...record.config, resources });
    // The next start rebuilds the container from config.json: keep its limits there too.
    const specPath = join(dir, 'config.json');
    const spec = JSON.parse(readFileSync(specPath, 'utf8')) as RuntimeSpec;
    const linux = spec.linux ?? {};
    const updated: RuntimeSpec = { ...spec, linux: { ...linux, resources: { ...oci.resources, devices: linux.resources?.devices ?? [] } } };
    writeFileSync(specPath, `${JSON.stringify(updated, null, 2)}\n`);
    return warnings;
  }
}
