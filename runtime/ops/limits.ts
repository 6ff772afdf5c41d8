/**
 * A container's limits and usage: docker's pause, unpause, update and stats, through the
 * container's backend (its cgroup, or the other OCI runtime's `update`).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { TaskStats } from '../../common/backend.js';
import type { RuntimeSpec } from '../../oci/index.js';
import { hostResources } from '../host.js';
import { checkResources, noResources, normalizeResources, ociResources, type ResourceConfig } from '../resources.js';
import { requireAllowed, type ContainerView } from '../state.js';
import type { EngineContext } from './context.js';

/** What `stats` shows of one container at one moment. */
export type ContainerStats = TaskStats;

/** Resource usage of a running container (its cgroup's, and its network's). */
export async function containerStats(ctx: EngineContext, view: ContainerView): Promise<ContainerStats> {
  requireAllowed('stats', view);
  return ctx.backendOf(view.record).stats(ctx.task(view.record));
}

/** docker pause: freezes every process of the container, then records it paused (compare-and-set). */
export async function pauseContainer(ctx: EngineContext, view: ContainerView): Promise<void> {
  requireAllowed('pause', view);
  await ctx.backendOf(view.record).pause(ctx.task(view.record));
  ctx.records.compareAndSet(view.record.id, ['running'], { state: 'paused' });
}

/** docker unpause. */
export async function unpauseContainer(ctx: EngineContext, view: ContainerView): Promise<void> {
  requireAllowed('unpause', view);
  await ctx.backendOf(view.record).resume(ctx.task(view.record));
  ctx.records.compareAndSet(view.record.id, ['paused'], { state: 'running' });
}

/**
 * docker update: new limits for a container, written at once when it runs (and kept for
 * its next start, in the record and config.json). Checked as at create; returns docker's
 * warnings.
 */
export async function updateContainer(ctx: EngineContext, view: ContainerView, changes: Partial<ResourceConfig>): Promise<string[]> {
  requireAllowed('update', view);
  const { record } = view;
  const before = record.config.resources ?? noResources;
  // A new --memory without --memory-swap keeps docker's "as much swap again" rule only
  // when swap was at its default before.
  const memorySwap = changes.MemorySwap ?? (changes.Memory !== undefined && before.MemorySwap === 2 * before.Memory ? 0 : before.MemorySwap);
  const resources = normalizeResources({ ...before, ...changes, MemorySwap: memorySwap });
  const warnings = checkResources(resources, hostResources());
  const oci = ociResources(resources);
  if (view.running) warnings.push(...(await ctx.backendOf(record).update(ctx.task(record), oci.resources)));
  ctx.records.updateConfig(record.id, { ...record.config, resources });
  // The next start rebuilds the container from config.json: keep its limits there too.
  const specPath = join(ctx.dir(record.id), 'config.json');
  const spec = JSON.parse(readFileSync(specPath, 'utf8')) as RuntimeSpec;
  const linux = spec.linux ?? {};
  const updated: RuntimeSpec = { ...spec, linux: { ...linux, resources: { ...oci.resources, devices: linux.resources?.devices ?? [] } } };
  writeFileSync(specPath, `${JSON.stringify(updated, null, 2)}\n`);
  return warnings;
}
