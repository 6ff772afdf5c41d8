/** `berth top CONTAINER [ps OPTIONS]`: the container's processes, as the host's ps shows them (docker top; runtime/top.ts). */
import type { Command } from 'commander';
import { containerTop } from '../../runtime/index.js';
import { withContext } from '../run.js';

export function registerTop(program: Command): void {
  program.command('top').description('Display the running processes of a container')
    .argument('<container>').argument('[ps-options...]', 'options for ps (default -ef)')
    .passThroughOptions()
    .action(withContext(async (ctx, name: string, psOptions: string[]) => {
      process.stdout.write(await containerTop(ctx.engine(), name, { psArgs: psOptions }));
    }));
}
