/**
 * `npm run bench:run`: the container start benchmark. Times `berth run --rm busybox true`
 * next to `podman run --rm`, `docker run --rm` (a private dockerd), bare `crun run` and
 * `runc run` of the same image as an OCI bundle, and the `node -e 0` floor, all with no
 * network (berth's default for now), in one run, tools interleaved round-robin; then the same
 * engines with their default networks, for information; then `berth exec ID true` next to
 * `podman exec`, `docker exec` and bare `runc exec`, each into one long-running `sleep 3600`
 * container (`--network none`) started before timing and removed right after the exec rounds
 * (start-exec.ts); then the memory of berth-monitor next to podman's conmon (and docker's
 * shim). Prints markdown tables of medians, min, max and the ratio to podman's median (goal:
 * berth ≤ 0.6× podman, for run and for exec; berth-monitor ≤ 1 MB).
 *
 * The image is busybox built from Debian's /bin/busybox with umoci (as scripts/demo.sh does),
 * pushed with skopeo to docker-registry on 127.0.0.1 and pulled by berth, podman and docker
 * before any timing; crun and runc run `umoci unpack` of the same layout.
 *
 * Runs as root. Environment:
 *  - `BENCH_RUNS` timed runs per tool (default 20); `BENCH_WARMUP` untimed rounds first (3);
 *  - `BENCH_TOOLS` a comma list of the ids in {@link mainIds}, {@link defaultIds} and {@link execIds}
 *    (default all);
 *  - `BENCH_BASELINE` another checkout with a built dist/native/berth: the rows berth-baseline and
 *    berth-baseline-exec time it beside this one, in the same rounds (default tools leave them
 *    out unless it is set);
 *  - `BENCH_WORK` parent of the run's scratch dir, where the stores go (default /var/tmp);
 *  - `BENCH_TIMEOUT` seconds one command may take before its run counts as failed (60).
 * Everything it starts is stopped by pid and everything it creates is removed at the end
 * (stores, dockerd, registry, containers, the exec rows' long-running containers, cgroup
 * parents, the private netns), also after an error or Ctrl-C (exit 130). It never touches /var/lib/berth, /var/lib/docker or the default
 * podman store.
 */
import { berthMonitor, dockerShim, podmanConmon, type MonitorReading } from './monitors.js';
import { parseRoundOptions, resultOf, runRounds, setupSlots, wasSetUp, type RoundOptions, type Slot } from './rounds.js';
import type { Runner } from './runners.js';
import { berthExecRunner, dockerExecRunner, podmanExecRunner, runcExecRunner } from './start-exec.js';
import { hostWatch, prepareStart } from './start-context.js';
import { formatStartReport } from './start-report.js';
import {
  ContainerRunner, Engines, NodeFloorRunner, OciRuntimeRunner, berthRunner, dockerRunner, podmanRunner, type StartContext,
} from './start-runners.js';
import { benchMain, commandLine, log, message, storeFs } from './harness.js';
import type { Teardown } from './teardown.js';

/** The like-for-like rows (`--network none`), in table order, by the ids `BENCH_TOOLS` takes. */
const mainIds = ['node', 'berth', 'berth-baseline', 'podman', 'docker', 'crun', 'crun-cgv1', 'runc'] as const;
/** The default-network rows. */
const defaultIds = ['berth-default', 'podman-default', 'docker-default'] as const;
/** The exec rows: `exec CONTAINER true` into a long-running container, timed after the start rows. */
const execIds = ['berth-exec', 'berth-baseline-exec', 'podman-exec', 'docker-exec', 'runc-exec'] as const;
type ToolId = (typeof mainIds)[number] | (typeof defaultIds)[number] | (typeof execIds)[number];
const toolIds: readonly ToolId[] = [...mainIds, ...defaultIds, ...execIds];

const factories: Record<ToolId, (engines: Engines, ctx: StartContext) => Runner> = {
  node: () => new NodeFloorRunner(),
  berth: (e, ctx) => berthRunner(e, ctx, 'none'),
  'berth-baseline': (e, ctx) => berthRunner(e, ctx, 'none', undefined, true),
  podman: (e, ctx) => podmanRunner(e, ctx, 'none'),
  docker: (e, ctx) => dockerRunner(e, ctx, 'none'),
  crun: (_, ctx) => new OciRuntimeRunner(ctx, { id: 'crun', binary: 'crun' }),
  'crun-cgv1': (_, ctx) => new OciRuntimeRunner(ctx, { id: 'crun-cgv1', binary: 'crun', hideCgroup2: true }),
  runc: (_, ctx) => new OciRuntimeRunner(ctx, { id: 'runc', binary: 'runc' }),
  'berth-default': (e, ctx) => berthRunner(e, ctx, 'default'),
  'podman-default': (e, ctx) => podmanRunner(e, ctx, 'default'),
  'docker-default': (e, ctx) => dockerRunner(e, ctx, 'default'),
  'berth-exec': (e, ctx) => berthExecRunner(e, ctx),
  'berth-baseline-exec': (e, ctx) => berthExecRunner(e, ctx, true),
  'podman-exec': (e, ctx) => podmanExecRunner(e, ctx),
  'docker-exec': (e, ctx) => dockerExecRunner(e, ctx),
  'runc-exec': (_, ctx) => runcExecRunner(ctx),
};

type Options = RoundOptions<ToolId>;

async function bench(options: Options, signal: AbortSignal, teardown: Teardown): Promise<string> {
  const { ctx, engines, imageLine } = await prepareStart('run', options.workParent, signal, teardown);
  const slots: Slot<ToolId>[] = [];
  for (const id of options.tools) {
    const runner = factories[id](engines, ctx);
    teardown.add(`${id} teardown`, () => runner.teardown());
    slots.push({ id, runner, times: [] });
  }
  const isExec = (s: Slot): boolean => (execIds as readonly string[]).includes(s.id);
  const startSlots = slots.filter((s) => !isExec(s));
  const execSlots = slots.filter(isExec);
  const notes: string[] = [];
  await setupSlots(startSlots, signal);
  await runRounds(startSlots, options, signal);
  if (execSlots.length > 0) {
    // The long-running containers exist only for the exec rounds.
    log('exec: starting one long-running container per tool');
    await setupSlots(execSlots, signal);
    await runRounds(execSlots, options, signal);
    for (const slot of execSlots) {
      log(`exec: removing ${slot.id}'s container`);
      await slot.runner.teardown().catch((err: unknown) => {
        if (signal.aborted) throw err;
        notes.push(`${slot.id}: removing its long-running container failed: ${message(err)}.`);
        log(`${slot.id}: removing its container failed: ${message(err)}`);
      });
    }
  }
  const monitors = await measureMonitors(engines, slots, ctx.ref, signal);
  const seen = slots.filter((s) => s.runner instanceof ContainerRunner && wasSetUp(s))
    .map((s) => `${s.id}: ${(s.runner as ContainerRunner).interfaces.join(', ') || 'none'}`);
  if (seen.length > 0) notes.push(`Network interfaces a container sees (/proc/net/dev, from a run at setup): ${seen.join('; ')}.`);
  const podman = engines.made().podman;
  if (podman !== undefined && podman.runtimeNote !== '') notes.push(`${podman.runtimeNote}.`);
  if (slots.some((s) => s.id === 'podman-default')) {
    notes.push('podman\'s default network is a CNI bridge: to leave the host\'s network alone, that row runs podman ' +
      'in a private network namespace made for the run (`nsenter --net=/run/netns/NAME podman ...`, nsenter adds ~1 ms).');
  }
  if (slots.some((s) => s.id === 'docker-default')) {
    notes.push('dockerd runs with `--bridge=none --iptables=false` (as in the pull benchmark, to leave the host\'s network alone), ' +
      'so its default network has no bridge: see the interfaces above.');
  }
  return formatStartReport(
    slots.filter((s) => (mainIds as readonly string[]).includes(s.id)).map(resultOf),
    slots.filter((s) => (defaultIds as readonly string[]).includes(s.id)).map(resultOf),
    execSlots.map(resultOf),
    monitors,
    { date: new Date(), runs: options.runs, warmup: options.warmup, imageLine, storeFs: await storeFs(ctx.work), command: commandLine('bench:run', 'dist/bench/run.js'), notes },
  );
}

/** Reads the monitors of the engines one of whose rows got set up. */
async function measureMonitors(engines: Engines, slots: readonly Slot[], ref: string, signal: AbortSignal): Promise<MonitorReading[]> {
  // An engine is ready when one of its rows got set up.
  const ready = (engine: string): boolean => slots.some((s) => [engine, `${engine}-default`, `${engine}-exec`].includes(s.id) && wasSetUp(s));
  const made = engines.made();
  const out: MonitorReading[] = [];
  const steps: [string, (() => Promise<MonitorReading>) | undefined][] = [
    ['berth', made.berth === undefined ? undefined : () => berthMonitor(made.berth as NonNullable<typeof made.berth>, ref)],
    ['podman', made.podman === undefined ? undefined : () => podmanConmon(made.podman as NonNullable<typeof made.podman>, ref)],
    ['docker', made.docker === undefined ? undefined : () => dockerShim(made.docker as NonNullable<typeof made.docker>, ref)],
  ];
  for (const [id, step] of steps) {
    if (step === undefined || !ready(id)) continue;
    signal.throwIfAborted();
    const reading = await step();
    log(`monitor memory, ${reading.label}: ${reading.rss === undefined ? `n/a: ${reading.failure ?? '?'}` : `${reading.rss.rssKb} kB`}`);
    out.push(reading);
  }
  return out;
}

process.exitCode = await benchMain({
  rootBecause: 'it starts dockerd, podman and OCI runtimes',
  // The baseline rows are there only when BENCH_BASELINE names a checkout to time.
  parseOptions: (env) => parseRoundOptions(env, env['BENCH_BASELINE'] === undefined || env['BENCH_BASELINE'] === '' ? toolIds.filter((t) => !t.includes('baseline')) : toolIds),
  run: bench,
  ...hostWatch(),
});
