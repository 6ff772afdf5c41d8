/**
 * Directory creation that cannot spin: Node's `mkdir(..., { recursive: true })` loops
 * forever when mkdir(2) answers ENOENT for a path whose parent exists (procfs, sysfs: try
 * `--root /proc/x`). These walk up explicitly, at most once per path component, and turn
 * what the host refuses into a BerthError that says what to do. Also the size of a tree.
 */
import { mkdirSync } from 'node:fs';
import { lstat, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { FailedPreconditionError, RequiresRootError, isErrnoError } from './errors.js';

/** Creates `path` and missing parents (mode `mode`); an existing directory is fine. */
export async function makeDirectory(path: string, mode = 0o755): Promise<void> {
  const missing: string[] = [];
  for (let dir = path; ; dir = dirname(dir)) {
    try {
      await mkdir(dir, { mode });
      break;
    } catch (err) {
      if (isErrnoError(err, 'EEXIST')) break;
      if (!isErrnoError(err, 'ENOENT') || dirname(dir) === dir) throw directoryError(path, err);
      missing.push(dir);
    }
  }
  for (const dir of missing.reverse()) {
    try {
      await mkdir(dir, { mode });
    } catch (err) {
      if (!isErrnoError(err, 'EEXIST')) throw directoryError(path, err);
    }
  }
}

/** {@link makeDirectory} for the few synchronous callers (opening the database). */
export function makeDirectorySync(path: string, mode = 0o755): void {
  const missing: string[] = [];
  for (let dir = path; ; dir = dirname(dir)) {
    try {
      mkdirSync(dir, { mode });
      break;
    } catch (err) {
      if (isErrnoError(err, 'EEXIST')) break;
      if (!isErrnoError(err, 'ENOENT') || dirname(dir) === dir) throw directoryError(path, err);
      missing.push(dir);
    }
  }
  for (const dir of missing.reverse()) {
    try {
      mkdirSync(dir, { mode });
    } catch (err) {
      if (!isErrnoError(err, 'EEXIST')) throw directoryError(path, err);
    }
  }
}

/** What a user can do when `path` cannot be created or written. */
export function directoryError(path: string, err: unknown): Error {
  const reason = err instanceof Error ? err.message.replace(/^[A-Z]+: /, '') : String(err);
  if (isErrnoError(err, 'EACCES') || isErrnoError(err, 'EPERM')) {
    return new RequiresRootError(`Cannot use "${path}": permission denied`, {
      hint: 'Run berth as root, or choose a store you can write with --root DIR (or BERTH_ROOT)',
      cause: err,
    });
  }
  return new FailedPreconditionError(`Cannot use "${path}": ${reason}`, {
    hint: 'Choose a store on a writable local filesystem with --root DIR (or BERTH_ROOT)',
    cause: err,
  });
}

/** Bytes of the files below `dir` (lstat sizes, symlinks not followed); 0 when it is gone. */
export async function treeSize(dir: string): Promise<number> {
  let total = 0;
  const entries = await readdir(dir, { withFileTypes: true }).catch(() => []);
  for (const e of entries) {
    const p = join(dir, e.name);
    if (e.isDirectory()) total += await treeSize(p);
    else total += (await lstat(p).catch(() => undefined))?.size ?? 0;
  }
  return total;
}
