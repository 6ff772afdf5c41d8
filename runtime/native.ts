/**
 * Starting berth-monitor (which runs berth-helper) for a container: the plan goes down an
 * inherited pipe, the helper's reply comes back on another, and the monitor stays behind,
 * detached, as the container's parent.
 */
import { spawn, type ChildProcess, type StdioNull, type StdioPipe } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { basename, join } from 'node:path';
import { ContainerCommandError, FailedPreconditionError, HelperError, UnsupportedError } from '../common/errors.js';
import { parseReply, planFdEnv, replyFdEnv, type HelperReply } from './protocol.js';
import { findNativeDir } from '../common/native-dir.js';

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
  const dir = findNativeDir(['berth-monitor', 'berth-helper'], env);
  if (dir !== undefined) return { helper: join(dir, 'berth-helper'), monitor: join(dir, 'berth-monitor') };
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
  /** The memory cgroup file counting OOM kills (v1 memory.oom_control, v2 memory.events). */
  readonly oomFile?: string | undefined;
  /** Host ports to hold while the container lives: "tcp:0.0.0.0:8080". */
  readonly holdPorts?: readonly string[] | undefined;
  /** More monitor arguments (another runtime's create command). */
  readonly extraArgs?: readonly string[] | undefined;
}

/** A created container: its first process waits on the exec fifo. */
export interface CreatedProcess {
  readonly pid: number;
  readonly monitorPid: number;
}

/** Maps a helper's failure to the error docker would give; `what` says what failed. */
function replyError(stage: string, errno: number, message: string, what: string): Error {
  const ENOENT = 2;
  const EACCES = 13;
  const ENOEXEC = 8;
  if (stage === 'exec' && (errno === ENOENT || errno === EACCES || errno === ENOEXEC)) {
    return new ContainerCommandError(message, errno === ENOENT);
  }
  // runc and crun look the command up at create too, and say so in their log: docker then
  // exits 127 or 126 as for berth's own runtime.
  const exec = /exec: "[^"]*": (executable file not found in \$PATH|no such file or directory|permission denied)/.exec(message);
  if (stage === 'runtime' && exec !== null) return new ContainerCommandError(exec[0], exec[1] !== 'permission denied');
  if (stage === 'port') {
    return new FailedPreconditionError(message, { hint: 'Another program or container holds the host port: publish on another one, or stop what holds it' });
  }
  if (stage === 'devices') {
    // plan.ts addDeviceFilter: only where nothing else enforces the rules.
    return new HelperError(`${what}: ${message}`, {
      stage, errno,
      hint: 'On cgroup v2 the container\'s device rules are a BPF program (BPF_PROG_TYPE_CGROUP_DEVICE), and berth does not run a container without them: it needs a kernel with CONFIG_CGROUP_BPF, and CAP_SYS_ADMIN (or CAP_BPF) that no seccomp filter or lockdown takes away',
    });
  }
  return new HelperError(`${what}: ${message}`, { stage, errno });
}

/** A native program started with a plan on fd 3 and its reply read from fd 4. */
interface NativeRun {
  readonly child: ChildProcess;
  /** The first reply line, parsed; undefined when the program closed fd 4 without one. */
  readonly reply: Promise<HelperReply | undefined>;
  /** Its exit status (128+N for signal N). */
  readonly exited: Promise<number>;
}

/**
 * Starts `file` (berth-monitor or berth-helper) with `plan` on fd 3 and reads one reply
 * line from fd 4 (protocol.ts). The reading stops at the line, in case something else
 * still holds a copy of the pipe. Resolves once the program runs.
 */
async function startNative(
  file: string, args: readonly string[], plan: Buffer,
  options: { readonly stdio: readonly (StdioNull | StdioPipe | number)[]; readonly detached: boolean },
): Promise<NativeRun> {
  const child = spawn(file, args, {
    detached: options.detached,
    stdio: [...options.stdio, 'pipe', 'pipe'],
    env: { PATH: process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin', [planFdEnv]: '3', [replyFdEnv]: '4' },
  });
  const planPipe = child.stdio[3] as NodeJS.WritableStream | null;
  const replyPipe = child.stdio[4] as (NodeJS.ReadableStream & { destroy(): void }) | null;
  if (planPipe === null || replyPipe === null) throw new HelperError(`Cannot talk to ${basename(file)}: its pipes are missing`);
  const exited = new Promise<number>((resolve) => {
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal === null ? 0 : signalNumber(signal))));
  });
  exited.catch(() => undefined);
  const reply = new Promise<HelperReply | undefined>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const done = (): void => {
      replyPipe.removeAllListeners('data');
      replyPipe.destroy();
      const line = Buffer.concat(chunks).toString('utf8').trim().split('\n')[0] ?? '';
      try {
        resolve(line === '' ? undefined : parseReply(line));
      } catch (err) {
        reject(err);
      }
    };
    replyPipe.on('data', (c: Buffer) => {
      chunks.push(c);
      if (c.includes(10)) done();
    });
    replyPipe.once('end', done);
    replyPipe.once('error', done);
  });
  reply.catch(() => undefined);
  await new Promise<void>((resolve, reject) => {
    child.once('spawn', resolve);
    child.once('error', (err) => reject(new HelperError(`Cannot run ${file}: ${err.message}`, { cause: err, hint: 'Run "npm run build" (it builds runtime/native)' })));
  });
  planPipe.on('error', () => undefined);
  planPipe.end(plan);
  return { child, reply, exited };
}

/** Starts the monitor with `plan`; resolves once the container process waits to be started. */
export async function startMonitor(programs: NativePrograms, plan: Buffer, options: MonitorOptions): Promise<CreatedProcess> {
  const args = ['--dir', options.dir, '--helper', programs.helper, '--log', options.logPath,
    '--log-max-size', String(options.logMaxSize), '--log-max-files', String(options.logMaxFiles)];
  if (options.tty) args.push('--tty');
  if (options.stdin) args.push('--stdin');
  if (options.oomFile !== undefined) args.push('--oom-file', options.oomFile);
  for (const p of options.holdPorts ?? []) args.push('--hold-port', p);
  args.push(...(options.extraArgs ?? []));
  const [exitFile, ...exitArgs] = options.exitCommand ?? [];
  if (exitFile !== undefined) {
    args.push('--exit-command', exitFile);
    for (const a of exitArgs) args.push('--exit-arg', a);
  }
  // The monitor's own complaints (it has no one else to tell once detached).
  const errFd = openSync(join(options.dir, 'monitor.log'), 'a', 0o600);
  let run: NativeRun;
  try {
    run = await startNative(programs.monitor, args, plan, { stdio: ['ignore', 'ignore', errFd], detached: true });
  } finally {
    closeSync(errFd);
  }
  const reply = await run.reply;
  run.child.unref();
  if (reply === undefined) {
    throw new HelperError(`berth-monitor exited (${await run.exited}) without creating the container`, {
      hint: `See ${join(options.dir, 'monitor.log')}`,
    });
  }
  if (reply.type === 'error') throw replyError(reply.stage, reply.errno, reply.message, 'failed to create the container');
  return { pid: reply.pid, monitorPid: run.child.pid ?? 0 };
}

/**
 * Runs berth-helper directly with `plan` and this process's stdio, for `berth oci create`
 * (the caller's stdio become the container's, as with runc); resolves with the container's
 * pid once the helper has left it waiting on the exec fifo.
 */
export async function runCreateHelper(programs: NativePrograms, plan: Buffer): Promise<number> {
  const run = await startNative(programs.helper, [], plan, { stdio: ['inherit', 'inherit', 'inherit'], detached: false });
  const reply = await run.reply;
  const code = await run.exited;
  if (reply === undefined) throw new HelperError(`berth-helper exited (${code}) without creating the container`);
  if (reply.type === 'error') throw replyError(reply.stage, reply.errno, reply.message, 'failed to create the container');
  return reply.pid;
}

/**
 * A container's filesystem held by berth-helper (proto.h PLAN_HOLD) while the container
 * does not run: `/proc/<pid>/root` is its root, with its volumes and bind mounts, until
 * {@link release}. The mounts exist only in the helper's mount namespace.
 */
export interface HeldRootfs {
  /** The helper's pid. */
  readonly pid: number;
  /**
   * Closes the helper's stdin, on which it waits, and resolves once it has exited: its
   * namespace and mounts are then gone. Kills it if it has not exited after a few seconds.
   */
  release(): Promise<void>;
}

/** How long {@link HeldRootfs.release} waits for the helper before it kills it. */
const releaseTimeoutMs = 5000;

/**
 * Runs berth-helper in hold mode with `plan` (plan.ts buildHoldPlan); resolves once the
 * rootfs is mounted. `what` starts the message of a failure. The helper's stdin is a pipe only berth holds: when berth closes it,
 * or dies, the helper exits (and the kernel sends it SIGKILL when berth dies, too).
 */
export async function holdRootfs(programs: NativePrograms, plan: Buffer, what = "failed to mount the container's filesystem"): Promise<HeldRootfs> {
  const run = await startNative(programs.helper, [], plan, { stdio: ['pipe', 'ignore', 'ignore'], detached: false });
  const stdin = run.child.stdin;
  stdin?.on('error', () => undefined);
  const release = async (): Promise<void> => {
    stdin?.end();
    const timer = setTimeout(() => run.child.kill('SIGKILL'), releaseTimeoutMs);
    try {
      await run.exited;
    } finally {
      clearTimeout(timer);
    }
  };
  let reply: HelperReply | undefined;
  try {
    reply = await run.reply;
  } catch (err) {
    await release();
    throw err;
  }
  if (reply?.type !== 'created') {
    await release();
    if (reply === undefined) throw new HelperError(`${what}: berth-helper exited (${await run.exited}) without a reply`);
    throw replyError(reply.stage, reply.errno, reply.message, what);
  }
  return { pid: reply.pid, release };
}

/** How an exec'd process's stdio is connected. */
export interface ExecStdio {
  /** Give it this process's stdin (-i); otherwise /dev/null. */
  readonly stdin: boolean;
  /** Run it in the background (-d): no stdio, do not wait. */
  readonly detach: boolean;
}

/** An exec'd process: its pid in the host's namespace, and its exit status (0 at once with `detach`). */
export interface ExecProcess {
  readonly pid: number;
  readonly status: Promise<number>;
}

/**
 * Runs berth-helper in exec mode with `plan`: it joins the container and stays the parent
 * of the new process, with this process's stdio (or a pty it relays). Resolves once the
 * process runs.
 */
export async function runExec(programs: NativePrograms, plan: Buffer, stdio: ExecStdio): Promise<ExecProcess> {
  const io = stdio.detach ? 'ignore' : 'inherit';
  // While the helper runs, signals meant for it reach it directly (same process group);
  // berth must not die of them first.
  const ignore = (): void => undefined;
  process.on('SIGINT', ignore);
  process.on('SIGTERM', ignore);
  const release = (): void => {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', ignore);
  };
  try {
    const run = await startNative(programs.helper, [], plan, { stdio: [stdio.stdin && !stdio.detach ? 'inherit' : 'ignore', io, io], detached: stdio.detach });
    const reply = await run.reply;
    if (reply === undefined) throw new HelperError(`berth-helper exited (${await run.exited}) without starting the process`);
    if (reply.type === 'error') {
      await run.exited;
      throw replyError(reply.stage, reply.errno, reply.message, 'failed to start the process');
    }
    if (stdio.detach) {
      run.child.unref();
      release();
      return { pid: reply.pid, status: Promise.resolve(0) };
    }
    const status = run.exited.finally(release);
    return { pid: reply.pid, status };
  } catch (err) {
    release();
    throw err;
  }
}

function signalNumber(name: NodeJS.Signals): number {
  const n = (osConstants.signals as Record<string, number | undefined>)[name];
  return n ?? 0;
}
