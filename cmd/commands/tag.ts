/** `berth tag SOURCE TARGET` (also `image tag`). */
import type { Command } from 'commander';
import { withContext } from '../run.js';

/** Registers `tag` under `name`. */
export function registerTag(program: Command, name = 'tag'): void {
  program
    .command(name)
    .description('Create a tag TARGET that refers to SOURCE')
    .argument('<source>', 'image name or ID')
    .argument('<target>', 'new name[:tag]')
    .action(withContext((ctx, source: string, target: string) => ctx.images().tag(source, target)));
}
