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
 *  - `BENCH_WORK` parent of the run's scratch dir, where the stores go (default /var/tmp);
 *  - `BENCH_TIMEOUT` seconds one command may take before its run counts as failed (60).
 * Everything it starts is stopped by pid and everything it creates is removed at the end
 * (stores, dockerd, registry, containers, the exec rows' long-running containers, cgroup
 * parents, the private netns), also after an error or Ctrl-C (exit 130). It never touches /var/lib/berth, /var/lib/docker or the default
 * podman store.
 */
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBusybox, busyboxTag, makeBundle } from './busybox.js';
import { cgroupMounts } from './host.js';
import { berthMonitor, dockerShim, podmanConmon, type MonitorReading } from './monitors.js';
import { CommandFailedError, check, output, runCommand } from './proc.js';
import { pushLayout, startRegistry, writeRegistriesConf } from './registry.js';
import type { ToolResult } from './report.js';
import type { Runner } from './runners.js';
import { berthExecRunner, dockerExecRunner, podmanExecRunner, runcExecRunner } from './start-exec.js';
import { formatStartReport, formatMs } from './start-report.js';
import {
  ContainerRunner, Engines, NodeFloorRunner, OciRuntimeRunner, berthRunner, dockerRunner, podmanRunner, type StartContext,
} from './start-runners.js';
import { benchMain, commandLine, log, message, storeFs } from './harness.js';
import { Teardown, removeTree } from './teardown.js';

/** The like-for-like rows (`--network none`), in table order, by the ids `BENCH_TOOLS` takes. */
const mainIds = ['node', 'berth', 'podman', 'docker', 'crun', 'crun-cgv1', 'runc'] as const;
/** The default-network rows. */
const defaultIds = ['berth-default', 'podman-default', 'docker-default'] as const;
/** The exec rows: `exec CONTAINER true` into a long-running container, timed after the start rows. */
const execIds = ['berth-exec', 'podman-exec', 'docker-exec', 'runc-exec'] as const;
type ToolId = (typeof mainIds)[number] | (typeof defaultIds)[number] | (typeof execIds)[number];
const toolIds: readonly ToolId[] = [...mainIds, ...defaultIds, ...execIds];

const factories: Record<ToolId, (engines: Engines, ctx: StartContext) => Runner> = {
  node: () => new NodeFloorRunner(),
  berth: (e, ctx) => berthRunner(e, ctx, 'none'),
  podman: (e, ctx) => podmanRunner(e, ctx, 'none'),
  docker: (e, ctx) => dockerRunner(e, ctx, 'none'),
  crun: (_, ctx) => new OciRuntimeRunner(ctx, { id: 'crun', binary: 'crun' }),
  'crun-cgv1': (_, ctx) => new OciRuntimeRunner(ctx, { id: 'crun-cgv1', binary: 'crun', hideCgroup2: true }),
  runc: (_, ctx) => new OciRuntimeRunner(ctx, { id: 'runc', binary: 'runc' }),
  'berth-default': (e, ctx) => berthRunner(e, ctx, 'default'),
  'podman-default': (e, ctx) => podmanRunner(e, ctx, 'default'),
  'docker-default': (e, ctx) => dockerRunner(e, ctx, 'default'),
  'berth-exec': (e, ctx) => berthExecRunner(e, ctx),
  'podman-exec': (e, ctx) => podmanExecRunner(e, ctx),
  'docker-exec': (e, ctx) => dockerExecRunner(e, ctx),
  'runc-exec': (_, ctx) => runcExecRunner(ctx),
};

interface Options {
  readonly runs: number;
  readonly warmup: number;
  readonly tools: readonly ToolId[];
  readonly workParent: string;
  readonly timeoutMs: number;
}

/** One tool's state during the run. */
interface Slot {
  readonly id: ToolId;
  readonly runner: Runner;
  readonly times: number[];
  failure?: string;
}

function parseOptions(env: NodeJS.ProcessEnv): Options {
  const int = (name: string, fallback: number, min: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new Error(`${name}="${raw}" is not an integer ≥ ${min}`);
    return n;
  };
  const tools = (env['BENCH_TOOLS'] ?? '').split(',').map((t) => t.trim()).filter((t) => t !== '');
  for (const t of tools) {
    if (!(toolIds as readonly string[]).includes(t)) throw new Error(`BENCH_TOOLS names "${t}"; known: ${toolIds.join(', ')}`);
  }
  return {
    runs: int('BENCH_RUNS', 20, 1),
    warmup: int('BENCH_WARMUP', 3, 0),
    tools: tools.length === 0 ? toolIds : toolIds.filter((t) => tools.includes(t)),
    workParent: env['BENCH_WORK'] ?? '/var/tmp',
    timeoutMs: int('BENCH_TIMEOUT', 60, 1) * 1000,
  };
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

/** One iteration of one tool: untimed reset and sync, the timed start, untimed verify. */
async function iterate(slot: Slot, label: string, isTimed: boolean, signal: AbortSignal, timeoutMs: number): Promise<void> {
  try {
    await slot.runner.reset();
    // Flush the last tool's writes so that their writeback is not billed to this one.
    await check({ file: 'sync', args: [] });
    signal.throwIfAborted();
    const ms = await timeOnce(slot.runner, signal, timeoutMs);
    await slot.runner.verify();
    if (isTimed) slot.times.push(ms);
    log(`[${label}] ${slot.id}: ${formatMs(ms)}`);
  } catch (err) {
    if (signal.aborted) throw err;
    slot.failure = `${label} failed: ${message(err)}`;
    log(`[${label}] ${slot.id}: ${slot.failure}`);
  }
}

/** Warm-up rounds, then timed rounds; each round starts one tool later than the last. */
async function runRounds(slots: readonly Slot[], options: Options, signal: AbortSignal): Promise<void> {
  for (let r = 0; r < options.warmup + options.runs; r++) {
    const isTimed = r >= options.warmup;
    const label = isTimed ? `run ${r - options.warmup + 1}/${options.runs}` : `warm-up ${r + 1}/${options.warmup}`;
    for (let i = 0; i < slots.length; i++) {
      const slot = slots[(r + i) % slots.length];
      if (slot === undefined || slot.failure !== undefined) continue;
      await iterate(slot, label, isTimed, signal, options.timeoutMs);
    }
  }
}

/**
 * Names in the host places the benchmark's tools write to outside its work dir; compared
 * before and after the run so that anything left behind is reported.
 */
async function hostSnapshot(): Promise<Set<string>> {
  const names = new Set<string>();
  const add = async (dir: string): Promise<void> => {
    for (const n of await readdir(dir).catch(() => [])) names.add(join(dir, n));
  };
  for (const d of ['/run', '/var/lib', '/etc/docker', '/run/netns', '/etc/cni/net.d']) await add(d);
  for (const { point } of await cgroupMounts()) await add(point);
  for (const link of (await output('ip', ['-o', 'link', 'show']).catch(() => '')).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(link)?.[1];
    if (name !== undefined) names.add(`link ${name}`);
  }
  for (const key of ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']) {
    const value = (await readFile(`/proc/sys/${key}`, 'utf8').catch(() => '?')).trim();
    names.add(`sysctl ${key.replace(/\//g, '.')}=${value}`);
  }
  for (const rule of (await output('iptables-save', []).catch(() => '')).split('\n')) {
    if (rule.startsWith('-A ') || rule.startsWith(':')) names.add(`iptables ${rule.replace(/ \[\d+:\d+\]$/, '')}`);
  }
  return names;
}

/** Starts the registry, pushes the image; the parts of the context that depend on it. */
async function serveImage(layoutDir: string, work: string, teardown: Teardown, signal: AbortSignal):
  Promise<{ registryHost: string; ref: string; containersEnv: NodeJS.ProcessEnv }> {
  const registry = await startRegistry(join(work, 'registry'));
  teardown.add('stop docker-registry', () => registry.stop());
  const registriesConf = join(work, 'registries.conf');
  await writeRegistriesConf(registriesConf, registry.host);
  const containersEnv = { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf };
  const ref = `${registry.host}/library/busybox:latest`;
  log(`pushing the image to ${ref}`);
  signal.throwIfAborted();
  await pushLayout(layoutDir, busyboxTag, ref, { env: containersEnv, signal });
  return { registryHost: registry.host, ref, containersEnv };
}

async function bench(options: Options, signal: AbortSignal, teardown: Teardown): Promise<string> {
  await mkdir(options.workParent, { recursive: true });
  const work = await mkdtemp(join(options.workParent, 'berth-bench-run.'));
  teardown.add(`remove ${work}`, () => removeTree(work));
  log(`building the busybox image in ${work}`);
  const image = await buildBusybox(join(work, 'image'));
  const bundle = join(work, 'bundle');
  await makeBundle(image, bundle);
  const served = await serveImage(image.layoutDir, work, teardown, signal);
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  const ctx: StartContext = { ...served, work, image, repoRoot, bundle, tag: `berth-bench-${process.pid}` };
  const engines = new Engines(ctx);
  teardown.add('engines', async () => {
    const failures = await engines.teardown();
    if (failures.length > 0) throw new Error(failures.join('; '));
  });
  const slots: Slot[] = [];
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
  const result = (s: Slot): ToolResult => ({
    id: s.id, label: s.runner.label(), times: s.times, ...(s.failure === undefined ? {} : { failure: s.failure }),
  });
  const seen = slots.filter((s) => s.runner instanceof ContainerRunner && s.failure?.startsWith('cannot run here') !== true)
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
  const layer = image.layers[0];
  const imageLine = `busybox ${image.busyboxVersion} from Debian's /bin/busybox (busybox-static), built with umoci, ` +
    `${image.layers.length} layer${layer === undefined ? '' : ` (${(layer.tarSize / 1e6).toFixed(1)} MB tar / ${(layer.size / 1e6).toFixed(1)} MB gzip)`}`;
  return formatStartReport(
    slots.filter((s) => (mainIds as readonly string[]).includes(s.id)).map(result),
    slots.filter((s) => (defaultIds as readonly string[]).includes(s.id)).map(result),
    execSlots.map(result),
    monitors,
    { date: new Date(), runs: options.runs, warmup: options.warmup, imageLine, storeFs: await storeFs(work), command: commandLine('bench:run', 'dist/bench/run.js'), notes },
  );
}

/** Sets up each slot in turn; one that cannot run here keeps why, and is skipped later. */
async function setupSlots(slots: readonly Slot[], signal: AbortSignal): Promise<void> {
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

/** Reads the monitors of the engines one of whose rows got set up. */
async function measureMonitors(engines: Engines, slots: readonly Slot[], ref: string, signal: AbortSignal): Promise<MonitorReading[]> {
  // An engine is ready when one of its rows got set up.
  const ready = (engine: string): boolean => slots.some((s) => [engine, `${engine}-default`, `${engine}-exec`].includes(s.id) &&
    !(s.failure ?? '').startsWith('cannot run here'));
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


let before: Set<string> = new Set();

process.exitCode = await benchMain({
  rootBecause: 'it starts dockerd, podman and OCI runtimes',
  parseOptions,
  run: bench,
  before: async () => {
    before = await hostSnapshot();
  },
  after: async () => {
    const left = [...(await hostSnapshot())].filter((n) => !before.has(n));
    if (left.length > 0) log(`left on the host since the start (by this run or by someone else meanwhile): ${left.join(', ')}`);
  },
});
