/** Small facts about processes. */
import { readFileSync } from 'node:fs';
import { isErrnoError } from './errors.js';

/** True while a process with this pid exists (kill(2) with signal 0; EPERM still means it exists). */
export function isProcessAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return !isErrnoError(err, 'ESRCH');
  }
}

/** Field 22 (starttime) of /proc/<pid>/stat, or undefined when there is no such process. */
export function processStartTime(pid: number): string | undefined {
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    // The command name (field 2) is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = fields[0];
    if (state === 'Z' || state === 'X') return undefined;
    return fields[19];
  } catch {
    return undefined;
  }
}

/** True when `pid` is alive and is the process recorded with `start`. */
export function sameProcess(pid: number, start: string): boolean {
  return start !== '' && processStartTime(pid) === start;
}
