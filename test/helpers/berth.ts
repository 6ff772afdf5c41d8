/**
 * Runs the built berth CLI (bin/berth → dist/) as a user would, against a store of the
 * test's own, and returns exit code, stdout and stderr for exact assertions.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';

/** The repository root. */
export const repoRoot = join(import.meta.dirname, '..', '..');
/** The berth executable of this checkout: the launcher setup.sh puts on PATH (bin/launcher.c). */
export const berthBin = join(repoRoot, 'dist', 'native', 'berth');

/** What a berth invocation did. */
export interface BerthResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Options of {@link berth}. */
export interface BerthOptions {
  /** Store root (`--root`). */
  readonly root: string;
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Throws unless dist/ is built (scripts/test.sh builds it; `npm run build` by hand). */
export function requireBuilt(): void {
  if (!existsSync(join(repoRoot, 'dist', 'cmd', 'main.js'))) throw new Error('berth is not built: run "npm run build" first');
}

/** Runs `berth --root ROOT ARGS…` to completion. */
export function berth(args: readonly string[], options: BerthOptions): Promise<BerthResult> {
  requireBuilt();
  return new Promise((resolve, reject) => {
    const child = spawn(berthBin, ['--root', options.root, ...args], {
      env: { ...process.env, BERTH_AUTH_FILE: join(options.root, '..', 'auth.json'), DOCKER_CONFIG: join(options.root, '..', 'docker'), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code: code ?? 128 + (signal === null ? 0 : 9), stdout, stderr }));
    child.stdin.end(options.input ?? '');
  });
}

/** Like {@link berth} but throws with the output when the exit code is not 0. */
export async function berthOk(args: readonly string[], options: BerthOptions): Promise<BerthResult> {
  const result = await berth(args, options);
  if (result.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
  return result;
}

/** The GraphDriver lower directories of an image, topmost first, from `berth image inspect`. */
export async function layerDirs(image: string, options: BerthOptions): Promise<string[]> {
  const { stdout } = await berthOk(['image', 'inspect', image], options);
  const parsed: unknown = JSON.parse(stdout);
  if (!Array.isArray(parsed) || parsed.length !== 1) throw new Error(`unexpected inspect output: ${stdout}`);
  const data = (parsed[0] as { GraphDriver?: { Data?: { UpperDir?: string; LowerDir?: string } } }).GraphDriver?.Data;
  if (data?.UpperDir === undefined) throw new Error(`no GraphDriver.Data.UpperDir in ${stdout}`);
  return [data.UpperDir, ...(data.LowerDir === undefined ? [] : data.LowerDir.split(':'))];
}
