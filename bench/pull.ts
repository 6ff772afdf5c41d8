/**
 * `npm run bench`: the pull benchmark. Pulls a 5-layer, ~300 MB (tar) image from a registry
 * on 127.0.0.1 into an empty store with berth, docker (a private dockerd), podman, and
 * skopeo + umoci, next to `gzip -dc | tar -x` of the layers and the `gzip -dc` floor,
 * all in one run, tools interleaved round-robin; prints a markdown table of medians and
 * their ratios to docker's.
 *
 * Runs as root (dockerd, podman and overlay mounts need it). Environment:
 *  - `BENCH_RUNS` timed runs per tool (default 5); `BENCH_WARMUP` untimed rounds first (1);
 *  - `BENCH_TOOLS` a comma list of berth, docker, podman, skopeo-umoci, tar, gzip (default all);
 *  - `BENCH_CACHE` where the built image layout is kept (default /var/tmp/berth-bench-cache);
 *  - `BENCH_WORK` parent of the run's scratch dir, where the stores go (default /var/tmp);
 *  - `BENCH_TIMEOUT` seconds one command may take before its run counts as failed (600).
 * Everything it starts is stopped by pid and everything it creates is removed at the end,
 * also after an error or Ctrl-C (exit 130).
 */
import { mkdir, mkdtemp } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerRunner } from './docker.js';
import { defaultCacheRoot, ensureImage, layoutTag, type BenchImage } from './image.js';
import { PodmanRunner } from './podman.js';
import { CommandFailedError, check, runCommand } from './proc.js';
import { pushLayout, startRegistry, writeRegistriesConf } from './registry.js';
import { formatReport, type ToolResult } from './report.js';
import {
  BerthRunner, GunzipFloorRunner, SkopeoUmociRunner, UntarReferenceRunner, type Runner, type RunnerContext,
} from './runners.js';
import { formatSeconds } from './stats.js';
import { benchMain, commandLine, log, message, storeFs } from './harness.js';
import { Teardown, removeTree } from './teardown.js';

/** The tools in table order, by the ids `BENCH_TOOLS` takes. */
const toolIds = ['berth', 'docker', 'podman', 'skopeo-umoci', 'tar', 'gzip'] as const;
type ToolId = (typeof toolIds)[number];

const factories: Record<ToolId, (ctx: RunnerContext) => Runner> = {
  berth: (ctx) => new BerthRunner(ctx),
  docker: (ctx) => new DockerRunner(ctx),
  podman: (ctx) => new PodmanRunner(ctx),
  'skopeo-umoci': (ctx) => new SkopeoUmociRunner(ctx),
  tar: (ctx) => new UntarReferenceRunner(ctx),
  gzip: (ctx) => new GunzipFloorRunner(ctx),
};

interface Options {
  readonly runs: number;
  readonly warmup: number;
  readonly tools: readonly ToolId[];
  readonly cacheRoot: string;
  readonly workParent: string;
  readonly timeoutMs: number;
}

/** One tool's state during the run. */
interface Slot {
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
    runs: int('BENCH_RUNS', 5, 1),
    warmup: int('BENCH_WARMUP', 1, 0),
    tools: tools.length === 0 ? toolIds : toolIds.filter((t) => tools.includes(t)),
    cacheRoot: env['BENCH_CACHE'] ?? defaultCacheRoot,
    workParent: env['BENCH_WORK'] ?? '/var/tmp',
    timeoutMs: int('BENCH_TIMEOUT', 600, 1) * 1000,
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

/** Where an iteration sits in the run, for progress lines; warm-up runs are not recorded. */
interface Round {
  readonly label: string;
  readonly isTimed: boolean;
}

/**
 * One iteration of one tool: untimed reset and sync, the timed pull, then untimed verify and
 * reset again, so only one tool's store exists at a time (BENCH_WORK may be a tmpfs).
 */
async function iterate(slot: Slot, round: Round, signal: AbortSignal, timeoutMs: number): Promise<void> {
  try {
    await slot.runner.reset();
    // Flush earlier writes and deletes so their writeback is not billed to this pull.
    await check({ file: 'sync', args: [] });
    signal.throwIfAborted();
    const ms = await timeOnce(slot.runner, signal, timeoutMs);
    await slot.runner.verify();
    await slot.runner.reset();
    if (round.isTimed) slot.times.push(ms);
    log(`[${round.label}] ${slot.runner.id}: ${formatSeconds(ms)}`);
  } catch (err) {
    if (signal.aborted) throw err;
    slot.failure = `${round.label} failed: ${message(err)}`;
    log(`[${round.label}] ${slot.runner.id}: ${slot.failure}`);
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
      await iterate(slot, { label, isTimed }, signal, options.timeoutMs);
    }
  }
}

/** Starts the registry and pushes the image; returns the runners' shared context parts. */
async function serveImage(image: BenchImage, work: string, teardown: Teardown, signal: AbortSignal):
  Promise<{ registryHost: string; ref: string; containersEnv: NodeJS.ProcessEnv }> {
  const registry = await startRegistry(join(work, 'registry'));
  teardown.add('stop docker-registry', () => registry.stop());
  const registriesConf = join(work, 'registries.conf');
  await writeRegistriesConf(registriesConf, registry.host);
  const containersEnv = { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf };
  const ref = `${registry.host}/bench/big:latest`;
  log(`pushing the image to ${ref}`);
  signal.throwIfAborted();
  await pushLayout(image.layoutDir, layoutTag, ref, { env: containersEnv, signal });
  return { registryHost: registry.host, ref, containersEnv };
}

async function bench(options: Options, signal: AbortSignal, teardown: Teardown): Promise<string> {
  const image = await ensureImage(options.cacheRoot, log);
  await mkdir(options.workParent, { recursive: true });
  const work = await mkdtemp(join(options.workParent, 'berth-bench.'));
  teardown.add(`remove ${work}`, () => removeTree(work));
  const served = await serveImage(image, work, teardown, signal);
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  const slots: Slot[] = [];
  for (const id of options.tools) {
    const dir = join(work, id);
    await mkdir(dir);
    const runner = factories[id]({ ...served, dir, image, repoRoot });
    teardown.add(`${id} teardown`, () => runner.teardown());
    slots.push({ runner, times: [] });
  }
  for (const slot of slots) {
    signal.throwIfAborted();
    try {
      await slot.runner.setup();
      log(`ready: ${slot.runner.label()}`);
    } catch (err) {
      if (signal.aborted) throw err;
      slot.failure = `cannot run here: ${message(err)}`;
      log(`${slot.runner.id} ${slot.failure}`);
    }
  }
  await runRounds(slots, options, signal);
  const results: ToolResult[] = slots.map((s) => ({
    id: s.runner.id, label: s.runner.label(), times: s.times, ...(s.failure === undefined ? {} : { failure: s.failure }),
  }));
  return formatReport(results, {
    date: new Date(), runs: options.runs, warmup: options.warmup, imageLine: imageLine(image),
    storeFs: await storeFs(work), command: commandLine('bench', 'dist/bench/pull.js'),
  });
}

function imageLine(image: BenchImage): string {
  const sum = (f: (l: BenchImage['layers'][number]) => number): number => image.layers.reduce((a, l) => a + f(l), 0);
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  return `${image.layers.length} layers, ${mb(sum((l) => l.tarSize))} MB tar / ${mb(sum((l) => l.size))} MB gzip, ` +
    `${sum((l) => l.entries)} tar entries (real files from this machine's /usr)`;
}


process.exitCode = await benchMain({ rootBecause: 'it starts dockerd and podman and mounts overlays', parseOptions, run: bench });
