/**
 * `npm run bench:limits`: what resource limits cost, and `stats`. On the start benchmark's
 * engines, image and harness (run.ts), in one run:
 *  1. `berth run --rm --network none busybox true` with and without `--memory 64m --cpus 1
 *     --pids-limit 100`, next to the same with podman (runc: crun refuses this hybrid cgroup
 *     host) and docker (a private dockerd), the six rows interleaved round-robin; reports each
 *     row's median, min and max, and per engine the cost the limits add (limited − plain; goal:
 *     under 5 ms for berth). Each limited row's setup checks, in the host's cgroup files, that a
 *     container started with those flags got them.
 *  2. `stats --no-stream` of berth, podman and docker, each with N detached `sleep 3600`
 *     containers (`--network none`) running, started before timing and removed right after the
 *     stats rounds; reports medians and the ratio to podman's.
 *
 * Runs as root. Environment, as bench:run's: `BENCH_RUNS` (20), `BENCH_WARMUP` (3),
 * `BENCH_TOOLS` (a comma list of {@link runIds} and {@link statsIds}; default all), `BENCH_WORK`
 * (/var/tmp), `BENCH_TIMEOUT` (60 s); and `BENCH_CONTAINERS`, the running containers per engine
 * for the stats rows (20).
 * Everything it starts is stopped by pid and everything it creates is removed at the end
 * (stores, dockerd, registry, containers, cgroup parents), also after an error or Ctrl-C
 * (exit 130). It never touches /var/lib/berth, /var/lib/docker or the default podman store.
 */
import { availableParallelism, loadavg } from 'node:os';
import { benchMain, commandLine, log, message, storeFs } from './harness.js';
import {
  LimitedRunner, berthLimitedRunner, dockerLimitedRunner, limitFlags, podmanLimitedRunner, statsRunner,
} from './limits-runners.js';
import { formatLimitsReport } from './limits-report.js';
import { intOption, parseRoundOptions, resultOf, runRounds, setupSlots, wasSetUp, type RoundOptions, type Slot } from './rounds.js';
import type { Runner } from './runners.js';
import { hostWatch, prepareStart } from './start-context.js';
import { berthRunner, dockerRunner, podmanRunner, type Engines, type StartContext } from './start-runners.js';
import type { Teardown } from './teardown.js';

/** The run rows, in table order, by the ids `BENCH_TOOLS` takes. */
const runIds = ['berth', 'berth-limits', 'podman', 'podman-limits', 'docker', 'docker-limits'] as const;
/** The stats rows, timed after the run rows. */
const statsIds = ['berth-stats', 'podman-stats', 'docker-stats'] as const;
type ToolId = (typeof runIds)[number] | (typeof statsIds)[number];
const toolIds: readonly ToolId[] = [...runIds, ...statsIds];

interface Options extends RoundOptions<ToolId> {
  /** `BENCH_CONTAINERS`: containers running during the stats rows, per engine. */
  readonly containers: number;
}

function factories(containers: number): Record<ToolId, (engines: Engines, ctx: StartContext) => Runner> {
  return {
    berth: (e, ctx) => berthRunner(e, ctx, 'none'),
    'berth-limits': berthLimitedRunner,
    podman: (e, ctx) => podmanRunner(e, ctx, 'none'),
    'podman-limits': podmanLimitedRunner,
    docker: (e, ctx) => dockerRunner(e, ctx, 'none'),
    'docker-limits': dockerLimitedRunner,
    'berth-stats': (e, ctx) => statsRunner(e, ctx, 'berth', containers),
    'podman-stats': (e, ctx) => statsRunner(e, ctx, 'podman', containers),
    'docker-stats': (e, ctx) => statsRunner(e, ctx, 'docker', containers),
  };
}

function parseOptions(env: NodeJS.ProcessEnv): Options {
  return { ...parseRoundOptions(env, toolIds), containers: intOption(env, 'BENCH_CONTAINERS', 20, 1) };
}

async function bench(options: Options, signal: AbortSignal, teardown: Teardown): Promise<string> {
  const loadBefore = loadavg()[0] ?? 0;
  const { ctx, engines, imageLine } = await prepareStart('limits', options.workParent, signal, teardown);
  const make = factories(options.containers);
  const slots: Slot<ToolId>[] = [];
  for (const id of options.tools) {
    const runner = make[id](engines, ctx);
    teardown.add(`${id} teardown`, () => runner.teardown());
    slots.push({ id, runner, times: [] });
  }
  const isStats = (s: Slot): boolean => (statsIds as readonly string[]).includes(s.id);
  const runSlots = slots.filter((s) => !isStats(s));
  const statsSlots = slots.filter(isStats);
  const notes: string[] = [];
  await setupSlots(runSlots, signal);
  await runRounds(runSlots, options, signal);
  if (statsSlots.length > 0) {
    // The long-running containers exist only for the stats rounds.
    log(`stats: starting ${options.containers} long-running containers per engine`);
    await setupSlots(statsSlots, signal);
    await runRounds(statsSlots, options, signal);
    for (const slot of statsSlots) {
      log(`stats: removing ${slot.id}'s containers`);
      await slot.runner.teardown().catch((err: unknown) => {
        if (signal.aborted) throw err;
        notes.push(`${slot.id}: removing its containers failed: ${message(err)}.`);
        log(`${slot.id}: removing its containers failed: ${message(err)}`);
      });
    }
  }
  const checked = slots.filter((s) => s.runner instanceof LimitedRunner && wasSetUp(s))
    .map((s) => `${s.id.replace(/-limits$/, '')}: ${(s.runner as LimitedRunner).checked}`);
  if (checked.length > 0) {
    notes.push(`The limits as read from the host's cgroup files of a detached container started with the same flags at setup: ${checked.join('; ')}.`);
  }
  const podman = engines.made().podman;
  if (podman !== undefined && podman.runtimeNote !== '') notes.push(`${podman.runtimeNote}.`);
  if (statsSlots.some((s) => s.id === 'docker-stats')) {
    // moby daemon/stats.go: a request with stream=false skips the first sample ("prime the cpu stats").
    notes.push('docker stats --no-stream is mostly waiting: dockerd samples each container once a second and answers a ' +
      'non-streaming request with its second sample (the first only primes the CPU figures), so it takes 1–2 s however little ' +
      'there is to read; the CLI asks for every container at once.');
  }
  // The machine is shared: other work on it shows here first.
  notes.push(`1-minute load average: ${loadBefore.toFixed(1)} at the start, ${(loadavg()[0] ?? 0).toFixed(1)} at the end ` +
    `(${availableParallelism()} CPUs).`);
  return formatLimitsReport(runSlots.map(resultOf), statsSlots.map(resultOf), {
    date: new Date(), runs: options.runs, warmup: options.warmup, imageLine, storeFs: await storeFs(ctx.work),
    flags: limitFlags.args.join(' '), containers: options.containers,
    command: commandLine('bench:limits', 'dist/bench/limits.js'), notes,
  });
}

process.exitCode = await benchMain({
  rootBecause: 'it starts dockerd, podman and containers',
  parseOptions,
  run: bench,
  ...hostWatch(),
});
