/**
 * What every benchmark entry point shares: logging, error wording, the filesystem line of
 * the report, the command line that reproduces the run, and the main wrapper that runs
 * as root, stops cleanly on SIGINT/SIGTERM (exit 130) and always tears down.
 */
import { basename } from 'node:path';
import { CommandFailedError, lastLines, output } from './proc.js';
import { Teardown } from './teardown.js';

export function log(line: string): void {
  process.stderr.write(`bench: ${line}\n`);
}

/** An error in one line: a failed command says how it ended and the end of what it said. */
export function message(err: unknown): string {
  if (err instanceof CommandFailedError) {
    const how = err.result.signal === null ? `exited with ${String(err.result.code)}` : `was killed by ${err.result.signal}`;
    const said = lastLines(err.result.stderr || err.result.stdout, 2);
    return `${basename(err.spec.file)} ${how}${said === '' ? '' : `: ${said}`}`;
  }
  return err instanceof Error ? err.message : String(err);
}

/** "ext4 (/dev/vda)": the filesystem `dir` is on. */
export async function storeFs(dir: string): Promise<string> {
  const [fstype, source] = (await output('findmnt', ['-no', 'FSTYPE,SOURCE', '-T', dir]).catch(() => '?')).split(/\s+/);
  return `${fstype ?? '?'}${source === undefined ? '' : ` (${source})`}`;
}

/** The command that reproduces this run: the BENCH_* variables set, then `npm run <script>` or node. */
export function commandLine(script: string, file: string): string {
  const vars = ['BENCH_RUNS', 'BENCH_WARMUP', 'BENCH_TOOLS', 'BENCH_CONTAINERS', 'BENCH_WORK', 'BENCH_TIMEOUT'].filter((k) => process.env[k] !== undefined)
    .map((k) => `${k}=${process.env[k] ?? ''}`);
  const run = process.env['npm_lifecycle_event'] === script ? `npm run ${script}` : `node ${file}`;
  return [...vars, run].join(' ');
}

/** How a benchmark's main runs. */
export interface BenchMain<O> {
  /** Why it needs root, for the message when it does not run as root. */
  readonly rootBecause: string;
  readonly parseOptions: (env: NodeJS.ProcessEnv) => O;
  /** The run: resolves with the report. */
  readonly run: (options: O, signal: AbortSignal, teardown: Teardown) => Promise<string>;
  /** Called before the run and after the teardown (host-state checks). */
  readonly before?: () => Promise<void>;
  readonly after?: () => Promise<void>;
}

/** Runs a benchmark; resolves with the process exit code (0, 1 failed, 2 bad options, 130 interrupted). */
export async function benchMain<O>(main: BenchMain<O>): Promise<number> {
  if (process.getuid?.() !== 0) {
    log(`must run as root: ${main.rootBecause}`);
    return 1;
  }
  let options: O;
  try {
    options = main.parseOptions(process.env);
  } catch (err) {
    log(message(err));
    return 2;
  }
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => {
    if (controller.signal.aborted) return log(`${sig}: still cleaning up`);
    log(`${sig}: stopping and cleaning up`);
    controller.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  await main.before?.();
  const teardown = new Teardown();
  try {
    process.stdout.write(await main.run(options, controller.signal, teardown));
    return 0;
  } catch (err) {
    log(controller.signal.aborted ? 'interrupted' : `failed: ${message(err)}`);
    return controller.signal.aborted ? 130 : 1;
  } finally {
    for (const failure of await teardown.run()) log(`teardown: ${failure}`);
    await main.after?.();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}
