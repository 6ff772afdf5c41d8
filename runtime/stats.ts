/**
 * docker's figures of a stats sample (`docker stats`, and what its API's /stats readers
 * work out): CPU % since the last sample of the same container, or since it started, and
 * memory against its limit or the host's memory.
 */
import type { ContainerEngine, ContainerView } from './engine.js';

/** A sample, as the engine's stats() reads it (named through the engine, whose public methods stay where its parts move). */
type ContainerStats = Awaited<ReturnType<ContainerEngine['stats']>>;

/** What {@link statsUsage} compares a sample with. */
export interface StatsUsageOptions {
  /** The container's previous sample; without one, the CPU time since it started counts. */
  readonly before?: ContainerStats | undefined;
  /** The host's memory, bytes: the limit of a container without one. */
  readonly hostMemory: number;
  /** The host's CPUs: 100 % each, the most CPU % can be. */
  readonly cpus: number;
}

/** A sample's figures. */
export interface StatsUsage {
  readonly cpuPercent: number;
  /** The container's memory limit, or the host's memory. */
  readonly memoryLimit: number;
  readonly memoryPercent: number;
}

/**
 * docker's figures for `now`, with CPU % from the usage since `before` (a sample of the same
 * container), or without one since the container started, as podman's `--no-stream` gives
 * it: a first answer without waiting a second for a second sample.
 */
export function statsUsage(view: Pick<ContainerView, 'record'>, now: ContainerStats, options: StatsUsageOptions): StatsUsage {
  const { before, hostMemory, cpus } = options;
  let cpuPercent = 0;
  if (before !== undefined && now.read > before.read) {
    cpuPercent = ((now.cpuNanos - before.cpuNanos) / ((now.read - before.read) * 1e6)) * 100;
  } else {
    const started = Date.parse(view.record.startedAt);
    if (started > 0 && now.read > started) cpuPercent = (now.cpuNanos / ((now.read - started) * 1e6)) * 100;
  }
  cpuPercent = Math.max(0, Math.min(cpuPercent, cpus * 100));
  const memoryLimit = now.memoryLimit ?? hostMemory;
  return { cpuPercent, memoryLimit, memoryPercent: memoryLimit > 0 ? (now.memoryUsage / memoryLimit) * 100 : 0 };
}
