/**
 * `berth oci …`: berth's own runtime behind runc's command line (create, start, state,
 * kill, delete, exec, features), for OCI conformance suites and for tools that
 * drive a runtime binary. Its `--root` is the runtime's state directory, as runc's is.
 */
import type { Command } from 'commander';
import { appendFile, readFile } from 'node:fs/promises';
import { OciRuntime, defaultOciRoot, ociFeatures } from '../../runtime/index.js';
import type { RuntimeSpec } from '../../oci/index.js';
import { setExitStatus } from '../run.js';
import { collect } from '../options.js';

interface OciGlobals {
  readonly root?: string;
  readonly log?: string;
  readonly logFormat?: string;
}


/** Runs an oci action with runc's error logging (--log, --log-format json). */
function action<A extends unknown[]>(oci: Command, fn: (runtime: OciRuntime, ...args: A) => Promise<void>): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const globals = oci.opts<OciGlobals>();
    const runtime = new OciRuntime(globals.root ?? defaultOciRoot);
    try {
      await fn(runtime, ...(args.slice(0, -1) as A));
    } catch (err) {
      if (globals.log !== undefined) {
        const msg = err instanceof Error ? err.message : String(err);
        const line = globals.logFormat === 'json'
          ? `${JSON.stringify({ level: 'error', msg, time: new Date().toISOString() })}\n`
          : `time="${new Date().toISOString()}" level=error msg="${msg.replace(/"/g, '\\"')}"\n`;
        try {
          await appendFile(globals.log, line);
        } catch {
          // the log is best effort; the error still reaches stderr
        }
      }
      throw err;
    }
  };
}

export function registerOci(program: Command): void {
  const oci = program.command('oci').description('berth\'s OCI runtime, with runc\'s command line')
    .option('--root <dir>', `state directory of the runtime (default ${defaultOciRoot})`)
    .option('--log <file>', 'append errors to this file')
    .option('--log-format <format>', 'text or json', 'text')
    .enablePositionalOptions();

  oci.command('create').description('Create a container from a bundle; its process waits for start')
    .argument('<id>')
    .option('-b, --bundle <dir>', 'the bundle directory', '.')
    .option('--pid-file <file>', 'write the container process\'s pid here')
    .option('--console-socket <path>', 'unix socket that receives the pty master (process.terminal)')
    .option('--no-pivot', 'accepted for runc compatibility; berth always uses pivot_root')
    .option('--no-new-keyring', 'accepted for runc compatibility')
    .action(action(oci, async (rt, id: string, flags: { bundle: string; pidFile?: string; consoleSocket?: string }) => {
      await rt.create(id, { bundle: flags.bundle, pidFile: flags.pidFile, consoleSocket: flags.consoleSocket });
    }));

  oci.command('start').description('Run the user\'s program of a created container').argument('<id>')
    .action(action(oci, async (rt, id: string) => rt.start(id)));

  oci.command('state').description('Print the state of a container (runtime-spec JSON)').argument('<id>')
    .action(action(oci, async (rt, id: string) => {
      process.stdout.write(`${JSON.stringify(await rt.state(id), null, 2)}\n`);
    }));

  oci.command('kill').description('Send a signal to the container\'s process').argument('<id>').argument('[signal]', 'signal', 'SIGTERM')
    .option('-a, --all', 'send the signal to every process of the container (through its cgroup)')
    .action(action(oci, async (rt, id: string, signal: string, flags: { all?: boolean }) => rt.kill(id, signal, { all: flags.all === true })));

  oci.command('delete').description('Delete a stopped container').argument('<id>')
    .option('-f, --force', 'kill it first if it runs')
    .action(action(oci, async (rt, id: string, flags: { force?: boolean }) => rt.delete(id, { force: flags.force === true })));

  oci.command('exec').description('Run a process in a container').argument('<id>').argument('[command...]')
    .option('-p, --process <file>', 'process.json with the process to run')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('--cwd <dir>', 'working directory')
    .option('-e, --env <KEY=VALUE>', 'an environment variable', collect, [])
    .option('-d, --detach', 'do not wait for the process')
    .option('--console-socket <path>', 'unix socket that receives the pty master')
    .option('--pid-file <file>', 'write the new process\'s pid here')
    .passThroughOptions()
    .action(action(oci, async (rt, id: string, command: string[], flags: { process?: string; tty?: boolean; cwd?: string; env: string[]; detach?: boolean; consoleSocket?: string; pidFile?: string }) => {
      const proc = flags.process === undefined ? undefined : JSON.parse(await readFile(flags.process, 'utf8')) as RuntimeSpec['process'];
      const status = await rt.exec(id, {
        process: proc, args: command, tty: flags.tty, cwd: flags.cwd, env: flags.env, detach: flags.detach, consoleSocket: flags.consoleSocket, pidFile: flags.pidFile,
      });
      setExitStatus(status);
    }));

  oci.command('features').description('Print the features this runtime supports (JSON)')
    .action(async () => {
      process.stdout.write(`${JSON.stringify(ociFeatures(), null, 2)}\n`);
    });
}
