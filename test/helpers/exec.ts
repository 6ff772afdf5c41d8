/**
 * Running the real peer tools (skopeo, umoci, mount, openssl, zstd) from test helpers, and
 * the temp directories they work in. Test-only: berth itself goes through `common/sys`.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** What a finished command printed. */
export interface RunResult {
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Options for {@link run}. */
export interface RunOptions {
  /** Written to the command's standard input, which is then closed. */
  readonly input?: Buffer | string;
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Exit codes that count as success; default `[0]`. */
  readonly okCodes?: readonly number[];
}

/** A command that exited with a status outside `okCodes`, or could not be started. */
export class CommandError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stderr: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'CommandError';
  }
}

/**
 * Runs `command` with `args` (no shell) and resolves with its output. Rejects with a
 * {@link CommandError} whose message quotes the command line and its standard error.
 */
export function run(command: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const commandLine = [command, ...args].map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : JSON.stringify(a))).join(' ');
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on('data', (chunk: Buffer) => stderr.push(chunk));
    child.on('error', (err) => reject(new CommandError(`Cannot run "${commandLine}"`, null, '', { cause: err })));
    child.on('close', (code, signal) => {
      const errText = Buffer.concat(stderr).toString('utf8');
      if (code !== null && (options.okCodes ?? [0]).includes(code)) {
        resolve({ stdout: Buffer.concat(stdout), stderr: errText });
        return;
      }
      const status = code === null ? `was killed by ${signal ?? 'a signal'}` : `exited with status ${code}`;
      reject(new CommandError(`"${commandLine}" ${status}: ${errText.trim().slice(-2000)}`, code, errText));
    });
    // A command that exits without reading its input gives EPIPE; its exit status tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input);
  });
}

/**
 * Runs `command` (stdin /dev/null) to the end of its output and resolves with its status and
 * what it printed, whatever the status (128 when a signal ended it).
 */
export function runStatus(command: string, args: readonly string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? 128, stdout, stderr }));
  });
}

/** Runs a command and returns its standard output as UTF-8 text. */
export async function runText(command: string, args: readonly string[], options: RunOptions = {}): Promise<string> {
  return (await run(command, args, options)).stdout.toString('utf8');
}

/** Creates a fresh directory under the system temp dir, named `berth-test-<label>-XXXXXX`. */
export function makeTempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `berth-test-${label}-`));
}

/** Removes a directory tree; a missing directory is fine. */
export async function removeDir(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 3 });
}
