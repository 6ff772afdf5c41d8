/**
 * Reading and writing cgroup control files, and what the host's refusals mean for the
 * user. Synchronous: each call is a few microseconds on cgroupfs, and a container's start
 * makes dozens (leaf.ts says more).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { FailedPreconditionError, RequiresRootError, isErrnoError, type BerthError } from '../common/errors.js';

/** Reads a control file; a missing one reads as empty (a tree of plain files in tests). */
export function readControl(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return '';
    throw cgroupError('read', file, err);
  }
}

/** Writes a control file the way `echo value > file` does. */
export function writeControl(file: string, value: string): void {
  try {
    writeFileSync(file, value);
  } catch (err) {
    if (isErrnoError(err, 'EBUSY')) throw err;
    throw cgroupError(`write "${value}" to`, file, err);
  }
}

/** What the host's refusal means for the user. */
export function cgroupError(action: string, path: string, err: unknown): BerthError {
  const reason = err instanceof Error ? err.message.replace(/^[A-Z]+: /, '') : String(err);
  if (isErrnoError(err, 'EACCES') || isErrnoError(err, 'EPERM')) {
    return new RequiresRootError(`Cannot ${action} "${path}": permission denied`, {
      hint: 'Run berth as root: only root can create cgroups, unless the hierarchy is delegated to your user',
      cause: err,
    });
  }
  if (isErrnoError(err, 'EROFS')) {
    return new FailedPreconditionError(`Cannot ${action} "${path}": the cgroup filesystem is mounted read-only`, {
      hint: 'Run berth on the host, or in a container with a writable cgroup filesystem (a private cgroup namespace on cgroup v2)',
      cause: err,
    });
  }
  return new FailedPreconditionError(`Cannot ${action} "${path}": ${reason}`, { cause: err });
}
