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
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DockerRunner } from './docker.js';
import { defaultCacheRoot, ensureImage, layoutTag, type BenchImage } from './image.js';
import { PodmanRunner } from './podman.js';
import { serveImage } from './registry.js';
import { formatReport } from './report.js';
import { parseRoundOptions, resultOf, runRounds, setupSlots, type RoundOptions, type Slot } from './rounds.js';
import {
  BerthRunner, GunzipFloorRunner, SkopeoUmociRunner, UntarReferenceRunner, type Runner, type RunnerContext,
} from './runners.js';
import { formatSeconds } from './stats.js';
import { benchMain, commandLine, log, storeFs } from './harness.js';
import { removeTree, type Teardown } from './teardown.js';

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

interface Options extends RoundOptions<ToolId> {
  readonly cacheRoot: string;
}

function parseOptions(env: NodeJS.ProcessEnv): Options {
  return {
    ...parseRoundOptions(env, toolIds, { runs: 5, warmup: 1, timeoutSeconds: 600 }),
    cacheRoot: env['BENCH_CACHE'] ?? defaultCacheRoot,
  };
}

async function bench(options: Options, signal: AbortSignal, teardown: Teardown): Promise<string> {
  const image = await ensureImage(options.cacheRoot, log);
  await mkdir(options.workParent, { recursive: true });
  const work = await mkdtemp(join(options.workParent, 'berth-bench.'));
  teardown.add(`remove ${work}`, () => removeTree(work));
  const served = await serveImage({ layoutDir: image.layoutDir, tag: layoutTag, path: 'bench/big' }, work, { teardown, signal });
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  const slots: Slot<ToolId>[] = [];
  for (const id of options.tools) {
    const dir = join(work, id);
    await mkdir(dir);
    const runner = factories[id]({ ...served, dir, image, repoRoot });
    teardown.add(`${id} teardown`, () => runner.teardown());
    slots.push({ id, runner, times: [] });
  }
  await setupSlots(slots, signal);
  // Reset after each pull too: only one tool's store exists at a time (BENCH_WORK may be a tmpfs).
  await runRounds(slots, options, signal, { formatTime: formatSeconds, resetAfter: true });
  return formatReport(slots.map(resultOf), {
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
