/** `berth top CONTAINER [ps OPTIONS]`: the container's processes, as the host's ps shows them (docker top). */
import type { Command } from 'commander';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InvalidArgumentError } from '../../common/errors.js';
import { withContext } from '../run.js';

const run = promisify(execFile);

export function registerTop(program: Command): void {
  program.command('top').description('Display the running processes of a container')
    .argument('<container>').argument('[ps-options...]', 'options for ps (default -ef)')
    .passThroughOptions()
    .action(withContext(async (ctx, name: string, psOptions: string[]) => {
      const pids = await ctx.engine().pids(name);
      const options = psOptions.length > 0 ? psOptions : ['-f'];
      for (const o of options) {
        if (/[;&|`$]/.test(o)) throw new InvalidArgumentError(`Invalid ps option "${o}"`);
      }
      // docker runs ps on the host for all processes and keeps the container's rows; asking
      // ps for those pids gives the same table.
      const { stdout } = await run('ps', [...options.filter((o) => o !== '-e' && o !== '-ef' && o !== '-A'), ...(options.includes('-ef') ? ['-f'] : []), '-p', pids.join(',')]);
      process.stdout.write(stdout);
    }));
}
