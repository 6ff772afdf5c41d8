/** Small facts about processes. */
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
