/** `berth logs [-f] [--tail N] [--since T] [--until T] [-t] CONTAINER` (also `container logs`). */
import type { Command } from 'commander';
import { UsageError } from '../../common/errors.js';
import { containerLogs, formatEntry, parseTimeFilter } from '../../runtime/index.js';
import { withContext } from '../run.js';

interface LogsFlags {
  readonly follow?: boolean;
  readonly tail?: string;
  readonly since?: string;
  readonly until?: string;
  readonly timestamps?: boolean;
}

export function registerLogs(program: Command): void {
  program.command('logs').description('Fetch the logs of a container')
    .argument('<container>')
    .option('-f, --follow', 'follow log output')
    .option('-n, --tail <n>', 'number of lines to show from the end of the logs ("all" for all)', 'all')
    .option('--since <time>', 'show logs since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m)')
    .option('--until <time>', 'show logs before a timestamp or relative time')
    .option('-t, --timestamps', 'show timestamps')
    .action(withContext(async (ctx, name: string, flags: LogsFlags) => {
      const engine = ctx.engine();
      const view = engine.find(name);
      const now = new Date();
      let tail: number | undefined;
      if (flags.tail !== undefined && flags.tail !== 'all') {
        tail = Number(flags.tail);
        if (!Number.isInteger(tail)) throw new UsageError(`Invalid --tail "${flags.tail}": give a number or "all"`);
        if (tail < 0) tail = undefined;
      }
      const controller = new AbortController();
      const stop = (): void => controller.abort();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      try {
        for await (const entry of containerLogs(engine, view, {
          tail, since: flags.since === undefined ? undefined : parseTimeFilter(flags.since, now),
          until: flags.until === undefined ? undefined : parseTimeFilter(flags.until, now),
          follow: flags.follow === true, signal: controller.signal,
        })) {
          (entry.stream === 'stderr' ? process.stderr : process.stdout).write(formatEntry(entry, { timestamps: flags.timestamps === true }));
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    }));
}
