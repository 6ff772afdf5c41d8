/**
 * Commands on a container's cgroup, with docker's flags and output: pause, unpause,
 * update (new limits for a running or stopped container) and stats.
 */
import type { Command } from 'commander';
import { availableParallelism, totalmem } from 'node:os';
import { InvalidArgumentError } from '../../common/errors.js';
import { statsUsage, type ContainerEngine, type ContainerStats, type ContainerView } from '../../runtime/index.js';
import type { CommandContext } from '../context.js';
import { binarySize, humanSize, table } from '../format.js';
import { resourceChanges, updatableResourceOptions, type ResourceFlags } from '../resource-flags.js';
import { withContext } from '../run.js';
import { each } from './lifecycle.js';

/** Registers pause, unpause, update and stats (top level and under `container`). */
export function registerLimits(program: Command): void {
  program.command('pause').description('Pause all processes within one or more containers')
    .argument('<containers...>')
    .action(withContext(async (ctx, names: string[]) => {
      const engine = ctx.engine();
      await each(names, async (name) => {
        await engine.pause(name);
        return name;
      });
    }));
  program.command('unpause').description('Unpause all processes within one or more containers')
    .argument('<containers...>')
    .action(withContext(async (ctx, names: string[]) => {
      const engine = ctx.engine();
      await each(names, async (name) => {
        await engine.unpause(name);
        return name;
      });
    }));
  updatableResourceOptions(program.command('update').description('Update configuration of one or more containers'))
    .argument('<containers...>')
    .action(withContext(async (ctx, names: string[], flags: ResourceFlags) => {
      const changes = resourceChanges(flags);
      if (Object.keys(changes).length === 0) {
        throw new InvalidArgumentError('You must provide one or more flags when using this command', { hint: 'Give a limit to change, such as --memory 256m or --cpus 1' });
      }
      const engine = ctx.engine();
      await each(names, async (name) => {
        for (const w of await engine.update(name, changes)) process.stderr.write(`WARNING: ${w}\n`);
        return name;
      });
    }));
  program.command('stats').description('Display a live stream of container(s) resource usage statistics')
    .argument('[containers...]')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('--no-stream', 'disable streaming stats and only pull the first result')
    .option('--no-trunc', 'do not truncate output')
    .option('--format <format>', 'output format: "table" (default) or "json"', 'table')
    .action(withContext(async (ctx, names: string[], flags: StatsFlags) => stats(ctx, names, flags)));
}

interface StatsFlags {
  readonly all?: boolean;
  readonly stream: boolean;
  readonly trunc: boolean;
  readonly format: string;
}

/** One row of docker's stats table; the keys are `--format json`'s. */
export interface StatsRow {
  readonly BlockIO: string;
  readonly CPUPerc: string;
  readonly Container: string;
  readonly ID: string;
  readonly MemPerc: string;
  readonly MemUsage: string;
  readonly Name: string;
  readonly NetIO: string;
  readonly PIDs: string;
}

/** docker's row for `now` (runtime's statsUsage: CPU % since `before`, or since the container started, and memory). */
export function statsRow(view: ContainerView, now: ContainerStats, before: ContainerStats | undefined, hostMemory: number, cpus: number, trunc: boolean): StatsRow {
  const { cpuPercent, memoryLimit: limit, memoryPercent } = statsUsage(view, now, { before, hostMemory, cpus });
  const id = trunc ? view.record.id.slice(0, 12) : view.record.id;
  return {
    BlockIO: `${humanSize(now.blockRead)} / ${humanSize(now.blockWrite)}`,
    CPUPerc: `${cpuPercent.toFixed(2)}%`,
    Container: id,
    ID: id,
    MemPerc: `${memoryPercent.toFixed(2)}%`,
    MemUsage: `${binarySize(now.memoryUsage)} / ${binarySize(limit)}`,
    Name: view.record.name,
    NetIO: `${humanSize(now.netRx)} / ${humanSize(now.netTx)}`,
    PIDs: String(now.pids),
  };
}

const headers = ['CONTAINER ID', 'NAME', 'CPU %', 'MEM USAGE / LIMIT', 'MEM %', 'NET I/O', 'BLOCK I/O', 'PIDS'];

function render(rows: readonly StatsRow[], format: string): string {
  if (format === 'json') return rows.map((r) => `${JSON.stringify(r)}\n`).join('');
  return table(headers, rows.map((r) => [r.ID, r.Name, r.CPUPerc, r.MemUsage, r.MemPerc, r.NetIO, r.BlockIO, r.PIDs]));
}

async function sample(engine: ContainerEngine, views: readonly ContainerView[]): Promise<Map<string, ContainerStats>> {
  const out = new Map<string, ContainerStats>();
  for (const v of views) {
    if (!v.running) continue;
    const s = await engine.stats(v).catch(() => undefined);
    if (s !== undefined) out.set(v.record.id, s);
  }
  return out;
}

async function stats(ctx: CommandContext, names: readonly string[], flags: StatsFlags): Promise<void> {
  if (flags.format !== 'table' && flags.format !== 'json') {
    throw new InvalidArgumentError(`Invalid --format "${flags.format}"`, { hint: 'Use table or json' });
  }
  const engine = ctx.engine();
  const hostMemory = totalmem();
  const cpus = availableParallelism();
  // Named containers must exist (docker fails on an unknown one); without names, the
  // running ones (or all with -a) each time round.
  const named = names.map((n) => engine.find(n));
  const current = (): ContainerView[] => (names.length > 0 ? named.map((v) => engine.view(engine.records.byId(v.record.id) ?? v.record)) : engine.list().filter((v) => flags.all === true || v.running));
  const rowsOf = (views: readonly ContainerView[], now: Map<string, ContainerStats>, before: Map<string, ContainerStats> | undefined): StatsRow[] => views.map((v) => {
    const s = now.get(v.record.id);
    if (s === undefined) {
      const id = flags.trunc ? v.record.id.slice(0, 12) : v.record.id;
      return { BlockIO: '--', CPUPerc: '--', Container: id, ID: id, MemPerc: '--', MemUsage: '-- / --', Name: v.record.name, NetIO: '--', PIDs: '--' };
    }
    return statsRow(v, s, before?.get(v.record.id), hostMemory, cpus, flags.trunc);
  });
  if (!flags.stream) {
    const views = current();
    process.stdout.write(render(rowsOf(views, await sample(engine, views), undefined), flags.format));
    return;
  }
  let before: Map<string, ContainerStats> | undefined;
  let stop = false;
  const onSignal = (): void => {
    stop = true;
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    while (!stop) {
      const views = current();
      const now = await sample(engine, views);
      const out = render(rowsOf(views, now, before), flags.format);
      // docker redraws the table in place on a terminal.
      process.stdout.write(process.stdout.isTTY && flags.format === 'table' ? `\x1b[2J\x1b[H${out}` : out);
      before = now;
      for (let waited = 0; waited < 1000 && !stop; waited += 100) await new Promise((resolve) => setTimeout(resolve, 100));
    }
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
