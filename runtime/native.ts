/**
 * Starting berth-monitor (which runs berth-helper) for a container: the plan goes down an
 * inherited pipe, the helper's reply comes back on another, and the monitor stays behind,
 * detached, as the container's parent.
 */
import { spawn } from 'node:child_process';
import { existsSync, openSync, closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ContainerCommandError, HelperError, UnsupportedError } from '../common/errors.js';
import { parseReply, planFdEnv, replyFdEnv } from './protocol.js';

/** Paths of the native programs. */
export interface NativePrograms {
  readonly helper: string;
  readonly monitor: string;
}

/**
 * Finds dist/native/ (built by `make -C runtime/native`): next to the bundle, or in the
 * repository above this module when it runs from sources (tests).
 */
export function findNativePrograms(env: NodeJS.ProcessEnv = process.env): NativePrograms {
  const override = env['BERTH_NATIVE_DIR'];
  const candidates: string[] = override !== undefined && override !== '' ? [override] : [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 5; level++) {
    candidates.push(join(dir, 'native'), join(dir, 'dist', 'native'));
    dir = dirname(dir);
  }
  for (const c of candidates) {
    const monitor = join(c, 'berth-monitor');
    const helper = join(c, 'berth-helper');
    if (existsSync(monitor) && existsSync(helper)) return { helper, monitor };
  }
  throw new UnsupportedError('berth-helper and berth-monitor are not built', { hint: 'Run "npm run build" (it runs make -C runtime/native)' });
}

/** What the monitor needs besides the plan. */
export interface MonitorOptions {
  /** The container's directory: the monitor's cwd, where it writes exit.json and its sockets. */
  readonly dir: string;
  readonly logPath: string;
  readonly logMaxSize: number;
  readonly logMaxFiles: number;
  readonly tty: boolean;
  readonly stdin: boolean;
  /** argv run when the container has exited (berth's cleanup), or none. */
  readonly exitCommand?: readonly string[] | undefined;
  /** More monitor arguments (another runtime's create command). */
  readonly extraArgs?: readonly string[] | undefined;
}

/** A created container: its first process waits on the exec fifo. */
export interface CreatedProcess {
  readonly pid: number;
  readonly monitorPid: number;
}

/** Maps a helper's failure to the error docker would give. */
function replyError(stage: string, errno: number, message: string): Error {
  const ENOENT = 2;
  const EACCES = 13;
  const ENOEXEC = 8;
  if (stage === 'exec' && (errno === ENOENT || errno === EACCES || errno === ENOEXEC)) {
    return new ContainerCommandError(message, errno === ENOENT);
  }
  return new HelperError(`failed to create the container: ${message}`, { stage, errno });
}

/** Starts the monitor with `plan`; resolves once the container process waits to be started. */
export async function startMonitor(programs: NativePrograms, plan: Buffer, options: MonitorOptions): Promise<CreatedProcess> {
  const args = ['--dir', options.dir, '--helper', programs.helper, '--log', options.logPath,
    '--log-max-size', String(options.logMaxSize), '--log-max-files', String(options.logMaxFiles)];
  if (options.tty) args.push('--tty');
  if (options.stdin) args.push('--stdin');
  args.push(...(options.extraArgs ?? []));
  const [exitFile, ...exitArgs] = options.exitCommand ?? [];
  if (exitFile !== undefined) {
    args.push('--exit-command', exitFile);
    for (const a of exitArgs) args.push('--exit-arg', a);
  }
  // The monitor's own complaints (it has no one else to tell once detached).
  const errFd = openSync(join(options.dir, 'monitor.log'), 'a', 0o600);
  let child;
  try {
    child = spawn(programs.monitor, args, {
      detached: true,
      stdio: ['ignore', 'ignore', errFd, 'pipe', 'pipe'],
      env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', [planFdEnv]: '3', [replyFdEnv]: '4' },
    });
  } finally {
    closeSync(errFd);
  }
  const planPipe = child.stdio[3];
  const replyPipe = child.stdio[4];
  if (planPipe === null || replyPipe === null || planPipe === undefined || replyPipe === undefined) throw new HelperError('Cannot talk to berth-monitor: its pipes are missing');
  const spawned = new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new HelperError(`Cannot run berth-monitor (${programs.monitor}): ${err.message}`, { cause: err })));
  });
  // One line, then the monitor closes its end; stop at the line in case something else
  // still holds a copy of the pipe.
  const replyText = new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      replyPipe.removeAllListeners('data');
      replyPipe.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    replyPipe.on('data', (c: Buffer) => {
      chunks.push(c);
      if (c.includes(10)) done();
    });
    replyPipe.once('close', done);
    replyPipe.once('error', done);
  });
  await spawned;
  const monitorPid = child.pid ?? 0;
  (planPipe as NodeJS.WritableStream).on('error', () => undefined);
  (planPipe as NodeJS.WritableStream).end(plan);
  const text = (await replyText).trim();
  child.unref();
  if (text === '') {
    const code = await new Promise<number | null>((resolve) => {
      if (child.exitCode !== null) resolve(child.exitCode);
      else child.once('exit', (c) => resolve(c));
    });
    throw new HelperError(`berth-monitor exited (${String(code)}) without creating the container`, {
      hint: `See ${join(options.dir, 'monitor.log')}`,
    });
  }
  const reply = parseReply(text.split('\n')[0] ?? '');
  if (reply.type === 'error') throw replyError(reply.stage, reply.errno, reply.message);
  return { pid: reply.pid, monitorPid };
}

/** How an exec'd process's stdio is connected. */
export interface ExecStdio {
  /** Give it this process's stdin (-i); otherwise /dev/null. */
  readonly stdin: boolean;
  /** Run it in the background (-d): no stdio, do not wait. */
  readonly detach: boolean;
}

/**
 * Runs berth-helper in exec mode with `plan`: it joins the container and stays the parent
 * of the new process, with this process's stdio (or a pty it relays). Resolves with the
 * process's exit status (0 at once with `detach`).
 */
export async function runExec(programs: NativePrograms, plan: Buffer, stdio: ExecStdio): Promise<number> {
  const child = spawn(programs.helper, [], {
    detached: stdio.detach,
    stdio: [stdio.stdin && !stdio.detach ? 'inherit' : 'ignore', stdio.detach ? 'ignore' : 'inherit', stdio.detach ? 'ignore' : 'inherit', 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', [planFdEnv]: '3', [replyFdEnv]: '4' },
  });
  const planPipe = child.stdio[3] as NodeJS.WritableStream | null;
  const replyPipe = child.stdio[4] as (NodeJS.ReadableStream & { destroy(): void }) | null;
  if (planPipe === null || replyPipe === null) throw new HelperError('Cannot talk to berth-helper: its pipes are missing');
  const exited = new Promise<number>((resolve, reject) => {
    child.once('error', (err) => reject(new HelperError(`Cannot run berth-helper (${programs.helper}): ${err.message}`, { cause: err })));
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : signalNumber(signal))));
  });
  const reply = new Promise<string>((resolve) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      replyPipe.removeAllListeners('data');
      replyPipe.destroy();
      resolve(Buffer.concat(chunks).toString('utf8'));
    };
    replyPipe.on('data', (c: Buffer) => {
      chunks.push(c);
      if (c.includes(10)) done();
    });
    replyPipe.once('end', done);
    replyPipe.once('error', done);
  });
  planPipe.on('error', () => undefined);
  planPipe.end(plan);
  // While the helper runs, signals for it reach it directly (same process group); berth
  // must not die of them first.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  try {
    const text = (await reply).trim();
    if (text === '') {
      const code = await exited;
      throw new HelperError(`berth-helper exited (${code}) without starting the process`);
    }
    const r = parseReply(text.split('\n')[0] ?? '');
    if (r.type === 'error') {
      await exited.catch(() => undefined);
      throw replyError(r.stage, r.errno, r.message.replace(/^/, ''));
    }
    if (stdio.detach) {
      child.unref();
      return 0;
    }
    return await exited;
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', ignore);
  }
}

function signalNumber(name: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[name];
  return n ?? 0;
}
