/**
 * Child processes for the pull benchmark: run a command to completion and time it, start a
 * daemon in its own process group, and stop a process by its pid. Only pids this harness
 * started are ever signalled.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { access, open, readFile } from 'node:fs/promises';

/** One command line: the program, its arguments, and where its output goes. */
export interface CommandSpec {
  readonly file: string;
  readonly args: readonly string[];
  /** The whole environment of the child; default: this process's. */
  readonly env?: NodeJS.ProcessEnv;
  /** Send stdout to this path (e.g. `/dev/null`) instead of capturing it. */
  readonly stdoutPath?: string;
}

/** How a command ended, with the tail of its output and its wall time. */
export interface CommandResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  /** Wall time from spawn to exit, in milliseconds. */
  readonly ms: number;
}

/** A command that exited with a non-zero status or on a signal. */
export class CommandFailedError extends Error {
  readonly spec: CommandSpec;
  readonly result: CommandResult;
  constructor(spec: CommandSpec, result: CommandResult) {
    const how = result.signal === null ? `exited with ${String(result.code)}` : `was killed by ${result.signal}`;
    const said = lastLines(result.stderr || result.stdout, 3);
    super(`${commandLine(spec)} ${how}${said === '' ? '' : `: ${said}`}`);
    this.name = 'CommandFailedError';
    this.spec = spec;
    this.result = result;
  }
}

/** Bytes of each output stream kept (the tail); pulls can be chatty. */
const keepBytes = 64 * 1024;

/** The command as a shell-like string, for messages. */
export function commandLine(spec: CommandSpec): string {
  return [spec.file, ...spec.args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
}

/** The last `n` non-empty lines of `text`, joined with " | ". */
export function lastLines(text: string, n: number): string {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '').slice(-n).join(' | ');
}

/**
 * Runs `spec` to completion and times it (spawn to exit, `process.hrtime`). Resolves with
 * any exit status; `signal` aborts the child with SIGTERM.
 */
export async function runCommand(spec: CommandSpec, options: { signal?: AbortSignal } = {}): Promise<CommandResult> {
  const stdoutFile = spec.stdoutPath === undefined ? undefined : await open(spec.stdoutPath, 'w');
  try {
    const start = process.hrtime.bigint();
    const child = spawn(spec.file, spec.args, {
      env: spec.env ?? process.env,
      stdio: ['ignore', stdoutFile?.fd ?? 'pipe', 'pipe'],
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (stdout = (stdout + s).slice(-keepBytes)));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (stderr = (stderr + s).slice(-keepBytes)));
    let end = start;
    child.once('exit', () => (end = process.hrtime.bigint()));
    return await new Promise<CommandResult>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (code, signal) => {
        resolve({ code, signal, stdout, stderr, ms: Number(end - start) / 1e6 });
      });
    });
  } finally {
    await stdoutFile?.close();
  }
}

/** Runs `spec` and throws {@link CommandFailedError} unless it exits with 0. */
export async function check(spec: CommandSpec, options: { signal?: AbortSignal } = {}): Promise<CommandResult> {
  const result = await runCommand(spec, options);
  if (result.code !== 0) throw new CommandFailedError(spec, result);
  return result;
}

/** The trimmed stdout of `file args`, which must exit with 0. */
export async function output(file: string, args: readonly string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const result = await check(env === undefined ? { file, args } : { file, args, env });
  return result.stdout.trim();
}

/**
 * A long-running process started by {@link startDaemon}. Lifecycle: running until `stop()`,
 * which signals this pid only and resolves once it has exited and been reaped.
 */
export interface Daemon {
  readonly pid: number;
  /** True once the process has exited (on its own or through `stop`). */
  hasExited(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs` (default 10 s); idempotent. */
  stop(graceMs?: number): Promise<void>;
}

/**
 * Starts `spec` in its own process group (so a Ctrl-C at the terminal reaches the harness,
 * which then stops it in order), with stdout and stderr appended to `logPath`.
 */
export async function startDaemon(spec: CommandSpec, logPath: string): Promise<Daemon> {
  const log = await open(logPath, 'a');
  let child: ChildProcess;
  try {
    child = spawn(spec.file, spec.args, { env: spec.env ?? process.env, stdio: ['ignore', log.fd, log.fd], detached: true });
  } finally {
    await log.close();
  }
  let exited = false;
  const exit = new Promise<void>((resolve) => {
    child.once('exit', () => {
      exited = true;
      resolve();
    });
    child.once('error', () => {
      exited = true;
      resolve();
    });
  });
  let stopping: Promise<void> | undefined;
  return {
    pid: child.pid ?? -1,
    hasExited: () => exited,
    stop: (graceMs = 10_000) => {
      stopping ??= (async () => {
        if (exited) return;
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exit;
        clearTimeout(timer);
      })();
      return stopping;
    },
  };
}

/** True while `pid` names a live process (a zombie counts as gone). */
export async function isAlive(pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  if (stat === '') return false;
  // Field 3, after the parenthesised command name, is the state.
  const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
  return state !== 'Z' && state !== 'X';
}

/**
 * Stops a process this harness caused to exist but did not spawn directly (dockerd's
 * managed containerd): SIGTERM, then SIGKILL after `graceMs`, polling until it is gone.
 */
export async function stopPid(pid: number, graceMs = 10_000): Promise<void> {
  if (!(await isAlive(pid))) return;
  process.kill(pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (await isAlive(pid)) {
    if (Date.now() > deadline) {
      process.kill(pid, 'SIGKILL');
      await sleep(200);
      return;
    }
    await sleep(50);
  }
}

/** True when `path` exists (any file type; a dangling symlink counts as absent). */
export async function exists(path: string): Promise<boolean> {
  return access(path).then(() => true, () => false);
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Polls `probe` every 100 ms until it returns true; throws `what` after `timeoutMs`. */
export async function waitFor(what: string, timeoutMs: number, probe: () => Promise<boolean>): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error(`${what} did not happen within ${timeoutMs / 1000} s`);
    await sleep(100);
  }
}
