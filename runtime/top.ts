/**
 * docker top: the processes of a running container, as the host's ps shows them (docker's
 * daemon runs ps on the host too and keeps the container's rows), for `berth top` and the
 * API's GET /containers/{id}/top.
 */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidArgumentError } from '../common/errors.js';
import type { ContainerEngine } from './engine.js';

const run = promisify(execFile);

/** ps's table of the processes of the running container `name`, with `psArgs` (default -f) for ps. */
export async function containerTop(engine: Pick<ContainerEngine, 'pids'>, name: string, options: { readonly psArgs?: readonly string[] | undefined } = {}): Promise<string> {
  const pids = await engine.pids(name);
  const psArgs = options.psArgs ?? [];
  const args = psArgs.length > 0 ? psArgs : ['-f'];
  for (const o of args) {
    if (/[;&|`$]/.test(o)) throw new InvalidArgumentError(`Invalid ps option "${o}"`);
  }
  // docker runs ps on the host for all processes and keeps the container's rows; asking
  // ps for those pids gives the same table.
  const { stdout } = await run('ps', [...args.filter((o) => o !== '-e' && o !== '-ef' && o !== '-A'), ...(args.includes('-ef') ? ['-f'] : []), '-p', pids.join(',')]);
  return stdout;
}
