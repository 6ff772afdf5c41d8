/**
 * Container lifecycle commands with docker's flags and output: start, stop, kill,
 * restart, rm, wait, rename, attach. Commands that take several containers go on after a
 * failure and fail at the end, printing each error, as docker does.
 */
import { Option, type Command } from 'commander';
import { existsSync } from 'node:fs';
import { UsageError } from '../../common/errors.js';
import { parseSignal, type ContainerEngine } from '../../runtime/index.js';
import { attachTerminal } from '../attach.js';
import { setExitStatus, withContext } from '../run.js';

/** Runs `fn` for each name; prints what docker prints; throws the first error at the end. */
export async function each(names: readonly string[], fn: (name: string) => Promise<string | undefined>): Promise<void> {
  let first: unknown;
  for (const name of names) {
    try {
      const out = await fn(name);
      if (out !== undefined) process.stdout.write(`${out}\n`);
    } catch (err) {
      if (first !== undefined) process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
      first ??= err;
    }
  }
  if (first !== undefined) throw first;
}

function seconds(value: string | undefined, flag: string): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n)) throw new UsageError(`Invalid ${flag} "${value}": give whole seconds`);
  return n;
}

/** Registers the lifecycle commands on `program` (top level and under `container`). */
export function registerLifecycle(program: Command): void {
  program.command('start').description('Start one or more stopped containers')
    .argument('<containers...>')
    .option('-a, --attach', 'attach stdout/stderr and forward signals')
    .option('-i, --interactive', 'attach the container\'s stdin')
    .action(withContext(async (ctx, names: string[], flags: { attach?: boolean; interactive?: boolean }) => {
      const engine = ctx.engine();
      if (flags.attach === true || flags.interactive === true) {
        if (names.length > 1) throw new UsageError('You cannot start and attach multiple containers at once');
        // An exited container is made again, waiting to be started, and attached to before
        // it starts: a short one would otherwise be gone before the attach.
        const view = await engine.prepareStart(names[0] ?? '');
        const current = view;
        const status = await attachTerminal(engine, current, {
          stdin: flags.interactive === true, tty: view.record.config.tty, start: current.status === 'created', proxySignals: true,
        });
        setExitStatus(status);
        return;
      }
      await each(names, async (name) => {
        await engine.start(name);
        return name;
      });
    }));

  program.command('stop').description('Stop one or more running containers')
    .argument('<containers...>')
    .option('-t, --time <seconds>', 'seconds to wait for the container to stop before killing it')
    .option('-s, --signal <signal>', 'signal to send (default: the container\'s stop signal)')
    .action(withContext(async (ctx, names: string[], flags: { time?: string; signal?: string }) => {
      const engine = ctx.engine();
      const time = seconds(flags.time, '--time');
      if (flags.signal !== undefined) parseSignal(flags.signal);
      await each(names, async (name) => {
        await engine.stop(name, time, flags.signal);
        return name;
      });
    }));

  program.command('kill').description('Kill one or more running containers')
    .argument('<containers...>')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .action(withContext(async (ctx, names: string[], flags: { signal: string }) => {
      const engine = ctx.engine();
      await each(names, async (name) => {
        await engine.kill(name, flags.signal);
        return name;
      });
    }));

  program.command('restart').description('Restart one or more containers')
    .argument('<containers...>')
    .option('-t, --time <seconds>', 'seconds to wait for the container to stop before killing it')
    .action(withContext(async (ctx, names: string[], flags: { time?: string }) => {
      const engine = ctx.engine();
      const time = seconds(flags.time, '--time');
      await each(names, async (name) => {
        await engine.stop(name, time);
        await engine.start(name);
        return name;
      });
    }));

  program.command('rm').description('Remove one or more containers')
    .argument('<containers...>')
    .option('-f, --force', 'force the removal of a running container (uses SIGKILL)')
    .option('-v, --volumes', 'remove anonymous volumes of the container')
    // Used by the monitor's exit command for --rm: succeed when the container is already gone.
    .addOption(new Option('--if-exists').hideHelp())
    .action(withContext(async (ctx, names: string[], flags: { force?: boolean; ifExists?: boolean; volumes?: boolean }) => {
      // The monitor's exit command must not make a store that is gone (removed meanwhile).
      if (flags.ifExists === true && !existsSync(ctx.layout.database())) return;
      const engine = ctx.engine();
      await each(names, async (name) => {
        await engine.remove(name, { force: flags.force === true, ifExists: flags.ifExists === true, volumes: flags.volumes === true });
        return flags.ifExists === true ? undefined : name;
      });
    }));

  program.command('wait').description('Block until one or more containers stop, then print their exit codes')
    .argument('<containers...>')
    .action(withContext(async (ctx, names: string[]) => {
      const engine = ctx.engine();
      await each(names, async (name) => String((await engine.wait(name)).exitCode));
    }));

  program.command('rename').description('Rename a container')
    .argument('<container>').argument('<new-name>')
    .action(withContext((ctx, name: string, newName: string) => {
      ctx.engine().rename(name, newName);
    }));

  program.command('attach').description('Attach local standard input, output, and error streams to a running container')
    .argument('<container>')
    .option('--no-stdin', 'do not attach stdin')
    .option('--sig-proxy', 'forward received signals to the container', true)
    .action(withContext(async (ctx, name: string, flags: { stdin: boolean; sigProxy: boolean }) => {
      const engine: ContainerEngine = ctx.engine();
      const view = engine.find(name);
      const status = await attachTerminal(engine, view, {
        stdin: flags.stdin && view.record.config.openStdin, tty: view.record.config.tty, start: false, proxySignals: flags.sigProxy,
      });
      setExitStatus(status);
    }));
}
