/**
 * The berth command line: builds the commander program, runs it, and is the one place that
 * prints errors and maps them to exit codes (STYLE.md §3; README "Exit codes").
 */
import { Command, CommanderError } from 'commander';
import { BerthError, ExitCode } from '../common/errors.js';
import { registerImage } from './commands/image.js';
import { registerImages } from './commands/images.js';
import { registerLogin } from './commands/login.js';
import { registerPull } from './commands/pull.js';
import { registerRmi } from './commands/rmi.js';
import { registerRun } from './commands/run.js';
import { registerContainer } from './commands/container.js';
import { registerExec } from './commands/exec.js';
import { registerVolume } from './commands/volume.js';
import { registerOci } from './commands/oci.js';
import { registerSystem } from './commands/system.js';
import { registerTop } from './commands/top.js';
import { registerCp, registerDiff } from './commands/cp.js';
import { registerInspect } from './commands/inspect.js';
import { registerLifecycle } from './commands/lifecycle.js';
import { registerLimits } from './commands/limits.js';
import { registerLogs } from './commands/logs.js';
import { registerPs } from './commands/ps.js';
import { registerTag } from './commands/tag.js';
import { registerNetwork, registerPort } from './commands/network.js';
import { takeExitStatus } from './run.js';
import { trace } from '../common/trace.js';

/**
 * The top-level commands by name, with what registers them, in the order `berth --help`
 * lists them. A command line that names one builds only its group: registering them all is
 * about 3 ms of every command's start-up.
 */
const registrars: readonly (readonly [names: readonly string[], register: (program: Command) => void])[] = [
  [['pull'], (p) => registerPull(p)],
  [['run', 'create'], (p) => registerRun(p)],
  [['start', 'stop', 'kill', 'restart', 'rm', 'wait', 'rename', 'attach'], (p) => registerLifecycle(p)],
  [['exec'], (p) => registerExec(p)],
  [['pause', 'unpause', 'update', 'stats'], (p) => registerLimits(p)],
  [['ps'], (p) => registerPs(p)],
  [['logs'], (p) => registerLogs(p)],
  [['inspect'], (p) => registerInspect(p, false)],
  [['container'], (p) => registerContainer(p)],
  [['volume'], (p) => registerVolume(p)],
  [['network'], (p) => registerNetwork(p)],
  [['port'], (p) => registerPort(p)],
  [['oci'], (p) => registerOci(p)],
  [['system'], (p) => registerSystem(p)],
  [['top'], (p) => registerTop(p)],
  [['cp'], (p) => registerCp(p)],
  [['diff'], (p) => registerDiff(p)],
  [['images'], (p) => registerImages(p)],
  [['rmi'], (p) => registerRmi(p)],
  [['tag'], (p) => registerTag(p)],
  [['image'], (p) => registerImage(p)],
  [['login', 'logout'], (p) => registerLogin(p)],
];

/**
 * The command `argv` names, past the global options; undefined when there is none or
 * an option is not one this knows (then every command is registered, for help and errors).
 */
export function commandName(argv: readonly string[]): string | undefined {
  const at = commandIndex(argv);
  return at === undefined ? undefined : argv[at];
}

/** Where in `argv` {@link commandName} finds the command. */
function commandIndex(argv: readonly string[]): number | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] ?? '';
    if (arg === '--root') i++;
    else if (arg === '--debug' || arg.startsWith('--root=')) continue;
    else if (arg.startsWith('-')) return undefined;
    else return i;
  }
  return undefined;
}

const helpFlags: readonly string[] = ['-h', '--help'];

/**
 * `argv` without its help flags where they ask for the help of a command that berth does
 * not have (`berth build --help`, `berth volume nosuch -h`), else `argv` itself. commander
 * would print the help of the program (or group) around the unknown name and exit 0, as if
 * the command existed; without the flags it fails as `berth build` does: "unknown command
 * 'build'" and exit code 2 (usage). docker 28 prints its general help and exits 0 there;
 * berth does not, so that a script cannot take a command it lacks for one it has.
 */
export function withoutHelpOfUnknownCommand(program: Command, argv: readonly string[]): readonly string[] {
  let command = program;
  for (let i = commandIndex(argv); i !== undefined && i < argv.length; i++) {
    const name = argv[i] ?? '';
    // Past the global options only a group (subcommands, no operands of its own) has names to look up.
    if (name.startsWith('-') || name === 'help' || command.commands.length === 0 || command.registeredArguments.length > 0) return argv;
    const sub = command.commands.find((c) => c.name() === name || c.aliases().includes(name));
    if (sub === undefined) {
      const rest = argv.slice(i + 1);
      return rest.some((arg) => helpFlags.includes(arg)) ? [...argv.slice(0, i + 1), ...rest.filter((arg) => !helpFlags.includes(arg))] : argv;
    }
    command = sub;
  }
  return argv;
}

/**
 * Builds the program: with `argv`, only the command it names (when berth has it), else
 * every command.
 */
export function buildProgram(argv?: readonly string[]): Command {
  const program = new Command('berth')
    .description('A container runtime and image tool for Linux')
    .version('0.1.0', '-v, --version')
    .option('--root <dir>', 'store root (default: $BERTH_ROOT or /var/lib/berth)')
    .option('--debug', 'print the cause chain of errors')
    .showHelpAfterError('(run "berth --help" for usage)')
    // Options after a subcommand are that subcommand's, so that `run IMAGE CMD -x` passes -x to CMD.
    .enablePositionalOptions()
    .exitOverride();
  const name = argv === undefined ? undefined : commandName(argv);
  const only = registrars.find(([names]) => name !== undefined && names.includes(name));
  for (const [, register] of only === undefined ? registrars : [only]) register(program);
  // Subcommands inherit exitOverride only when set before they are added; set it on all.
  for (const c of allCommands(program)) c.exitOverride();
  return program;
}

function allCommands(command: Command): Command[] {
  return command.commands.flatMap((c) => [c, ...allCommands(c)]);
}

/** Formats an error for the terminal: message, hint, and with `debug` the cause chain. */
export function formatError(err: unknown, debug: boolean): string {
  const lines: string[] = [];
  if (err instanceof BerthError) {
    lines.push(`Error: ${err.message}`);
    if (err.hint !== undefined) lines.push(`Hint: ${err.hint}`);
  } else {
    lines.push(`Error: ${err instanceof Error ? err.message : String(err)}`);
    if (!debug) lines.push('Hint: this is a bug in berth; run again with --debug and report the output');
  }
  if (debug) {
    let cause: unknown = err instanceof Error ? err.cause : undefined;
    while (cause !== undefined) {
      lines.push(`Caused by: ${cause instanceof Error ? cause.message : String(cause)}`);
      cause = cause instanceof Error ? cause.cause : undefined;
    }
    if (err instanceof Error && !(err instanceof BerthError) && err.stack !== undefined) lines.push(err.stack);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * What berth does when the reader of its stdout or stderr goes away (`berth cp C:/f - |
 * head -c 10`): it stops at once, quietly, with 141, as a program killed by SIGPIPE
 * (128+13) does; docker ends so (Go's runtime dies of SIGPIPE on fds 1 and 2). Node ignores
 * SIGPIPE, so the write fails with EPIPE instead, and unhandled that is a stack trace, or
 * else an error message about a reader nobody is left to be told about. Stopping at once
 * also ends commands that would otherwise go on writing into nothing (`logs -f`). Nothing
 * berth holds needs it to unwind: whatever it started that still runs (a helper holding a
 * container's files for cp) ends when berth's end of its pipe closes, as after SIGKILL.
 * Any other error is thrown on, as if there were no listener.
 */
function exitOnBrokenPipe(err: NodeJS.ErrnoException): void {
  if (err.code === 'EPIPE') process.exit(ExitCode.brokenPipe);
  throw err;
}

/** Runs berth with `argv` (without node and script); resolves to the exit code. */
export async function main(argv: readonly string[]): Promise<number> {
  trace('main');
  for (const stream of [process.stdout, process.stderr]) {
    if (!stream.listeners('error').includes(exitOnBrokenPipe)) stream.on('error', exitOnBrokenPipe);
  }
  const program = buildProgram(argv);
  trace('program built');
  try {
    await program.parseAsync([...withoutHelpOfUnknownCommand(program, argv)], { from: 'user' });
    return takeExitStatus();
  } catch (err) {
    if (err instanceof CommanderError) {
      // Help and version "errors" are successes; commander already printed the message.
      return err.exitCode === 0 ? ExitCode.ok : ExitCode.usage;
    }
    const debug = argv.includes('--debug');
    process.stderr.write(formatError(err, debug));
    return err instanceof BerthError ? err.exitCode : ExitCode.failed;
  }
}
