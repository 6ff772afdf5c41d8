/**
 * The round-robin timing loop the benchmarks share (bench, bench:run, bench:limits): the
 * `BENCH_*` options, one slot per {@link Runner}, setup that keeps why a tool cannot run here,
 * warm-up then timed rounds with each round starting one tool later than the last, and the
 * slots' timings as the reports' {@link ToolResult}s.
 */
import { basename } from 'node:path';
import { log, message } from './harness.js';
import { CommandFailedError, check, runCommand } from './proc.js';
import type { ToolResult } from './report.js';
import type { Runner } from './runners.js';
import { formatMs } from './start-report.js';

/** The options every round-robin benchmark takes from its environment. */
export interface RoundOptions<Id extends string> {
  /** `BENCH_RUNS`: timed runs per tool. */
  readonly runs: number;
  /** `BENCH_WARMUP`: untimed rounds first. */
  readonly warmup: number;
  /** `BENCH_TOOLS`: the tools picked, in table order. */
  readonly tools: readonly Id[];
  /** `BENCH_WORK`: parent of the run's scratch dir. */
  readonly workParent: string;
  /** `BENCH_TIMEOUT`, in ms: how long one command may take before its run counts as failed. */
  readonly timeoutMs: number;
}

/** An integer environment variable ≥ `min`, or `fallback` when unset or empty. */
export function intOption(env: NodeJS.ProcessEnv, name: string, fallback: number, min: number): number {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}="${raw}" is not an integer ≥ ${min}`);
  return n;
}

/** The defaults of the options that take a number. */
export interface RoundDefaults {
  /** `BENCH_RUNS` (20). */
  readonly runs?: number;
  /** `BENCH_WARMUP` (3). */
  readonly warmup?: number;
  /** `BENCH_TIMEOUT`, in seconds (60). */
  readonly timeoutSeconds?: number;
}

/**
 * Reads the `BENCH_*` options; `BENCH_TOOLS` must name ids of `toolIds` (default: all, in that
 * order). The numbers default to `defaults`' or else to the container benchmarks' values.
 */
export function parseRoundOptions<Id extends string>(
  env: NodeJS.ProcessEnv,
  toolIds: readonly Id[],
  defaults: RoundDefaults = {},
): RoundOptions<Id> {
  const tools = (env['BENCH_TOOLS'] ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of tools) {
    if (!(toolIds as readonly string[]).includes(t)) throw new Error(`BENCH_TOOLS names "${t}"; known: ${toolIds.join(', ')}`);
  }
  return {
    runs: intOption(env, 'BENCH_RUNS', defaults.runs ?? 20, 1),
    warmup: intOption(env, 'BENCH_WARMUP', defaults.warmup ?? 3, 0),
    tools: tools.length === 0 ? toolIds : toolIds.filter((t) => tools.includes(t)),
    workParent: env['BENCH_WORK'] ?? '/var/tmp',
    timeoutMs: intOption(env, 'BENCH_TIMEOUT', defaults.timeoutSeconds ?? 60, 1) * 1000,
  };
}

/**
 * One tool's state during the run. `times[i]` is the i-th timed round's: a tool stops at its
 * first failure, so two tools without a failure have timings from the same rounds.
 */
export interface Slot<Id extends string = string> {
  readonly id: Id;
  readonly runner: Runner;
  readonly times: number[];
  failure?: string;
}

/** True unless the slot's setup failed (it may have failed later). */
export function wasSetUp(slot: Slot): boolean {
  return !(slot.failure ?? '').startsWith('cannot run here');
}

/** The slot as a report row: its label and timings, or why it has none. */
export function resultOf(slot: Slot): ToolResult {
  return { id: slot.id, label: slot.runner.label(), times: slot.times, ...(slot.failure === undefined ? {} : { failure: slot.failure }) };
}

/** Runs `runner`'s commands one after another; returns their summed wall time. */
async function timeOnce(runner: Runner, signal: AbortSignal, timeoutMs: number): Promise<number> {
  let total = 0;
  for (const spec of runner.commands()) {
    const timeout = AbortSignal.timeout(timeoutMs);
    try {
      const result = await runCommand(spec, { signal: AbortSignal.any([signal, timeout]) });
      if (result.code !== 0) throw new CommandFailedError(spec, result);
      total += result.ms;
    } catch (err) {
      if (timeout.aborted && !signal.aborted) throw new Error(`${basename(spec.file)} took over ${timeoutMs / 1000} s`);
      throw err;
    }
  }
  return total;
}

/** How a benchmark's rounds differ from the container benchmarks' (the defaults). */
export interface RoundStyle {
  /** Formats a run's time on its progress line (default {@link formatMs}: `152.3 ms`). */
  readonly formatTime?: (ms: number) => string;
  /**
   * Resets the runner again after verifying, so that only one tool's state exists at a time
   * (the pull benchmark: its stores are large and `BENCH_WORK` may be a tmpfs). Default false.
   */
  readonly resetAfter?: boolean;
}

/** Where an iteration sits in the run; warm-up runs are not recorded. */
interface Round {
  readonly label: string;
  readonly isTimed: boolean;
}

/** One iteration of one tool: untimed reset and sync, the timed commands, untimed verify (and reset). */
async function iterate(slot: Slot, round: Round, signal: AbortSignal, options: { timeoutMs: number; style: RoundStyle }): Promise<void> {
  const { label, isTimed } = round;
  try {
    await slot.runner.reset();
    // Flush the last tool's writes and deletes so that their writeback is not billed to this one.
    await check({ file: 'sync', args: [] });
    signal.throwIfAborted();
    const ms = await timeOnce(slot.runner, signal, options.timeoutMs);
    await slot.runner.verify();
    if (options.style.resetAfter === true) await slot.runner.reset();
    if (isTimed) slot.times.push(ms);
    log(`[${label}] ${slot.id}: ${(options.style.formatTime ?? formatMs)(ms)}`);
  } catch (err) {
    if (signal.aborted) throw err;
    slot.failure = `${label} failed: ${message(err)}`;
    log(`[${label}] ${slot.id}: ${slot.failure}`);
  }
}

/** Warm-up rounds, then timed rounds; each round starts one tool later than the last. */
export async function runRounds(
  slots: readonly Slot[],
  options: RoundOptions<string>,
  signal: AbortSignal,
  style: RoundStyle = {},
): Promise<void> {
  for (let r = 0; r < options.warmup + options.runs; r++) {
    const isTimed = r >= options.warmup;
    const label = isTimed ? `run ${r - options.warmup + 1}/${options.runs}` : `warm-up ${r + 1}/${options.warmup}`;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(r + i) % slots.length];
      if (slot === undefined || slot.failure !== undefined) continue;
      await iterate(slot, { label, isTimed }, signal, { timeoutMs: options.timeoutMs, style });
    }
  }
}

/** Sets up each slot in turn; one that cannot run here keeps why, and is skipped later. */
export async function setupSlots(slots: readonly Slot[], signal: AbortSignal): Promise<void> {
  for (const slot of slots) {
    signal.throwIfAborted();
    try {
      log(`setting up ${slot.id}`);
      await slot.runner.setup();
      log(`ready: ${slot.runner.label()}`);
    } catch (err) {
      if (signal.aborted) throw err;
      slot.failure = `cannot run here: ${message(err)}`;
      log(`${slot.id} ${slot.failure}`);
    }
  }
}
