/** `berth image inspect|prune|ls|rm|pull|tag`. */
import type { Command } from 'commander';
import { NotFoundError } from '../../common/errors.js';
import { inspectImage } from '../../image/index.js';
import type { CommandContext } from '../context.js';
import { humanSize } from '../format.js';
import { withContext } from '../run.js';
import { registerImages } from './images.js';
import { registerPull } from './pull.js';
import { printEvents, registerRmi } from './rmi.js';
import { registerTag } from './tag.js';

/** Registers the `image` command group. */
export function registerImage(program: Command): void {
  const image = program.command('image').description('Manage images');
  image
    .command('inspect')
    .description('Display detailed information on one or more images')
    .argument('<images...>', 'image names or IDs')
    .option('-f, --format <format>', 'output format: "json" (default)')
    .action(withContext(async (ctx, names: string[]) => inspect(ctx, names)));
  image
    .command('prune')
    .description('Remove unused images')
    .option('-a, --all', 'remove all images, not only dangling ones')
    .option('-f, --force', 'do not prompt for confirmation (berth never prompts)')
    .action(withContext(async (ctx, flags: { all?: boolean }) => prune(ctx, flags.all === true)));
  registerImages(image, 'ls');
  registerRmi(image, 'rm');
  registerPull(image);
  registerTag(image, 'tag');
}

async function inspect(ctx: CommandContext, names: readonly string[]): Promise<void> {
  const service = ctx.images();
  const docs: unknown[] = [];
  let missing: unknown;
  for (const name of names) {
    try {
      docs.push(await inspectImage(service.find(name), ctx.store(), await ctx.validator()));
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      missing ??= err;
    }
  }
  // docker prints what it found, then fails for what it did not.
  process.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
  if (missing !== undefined) throw missing;
}

async function prune(ctx: CommandContext, all: boolean): Promise<void> {
  const result = await ctx.images().prune({ all });
  if (result.events.length > 0) {
    process.stdout.write('Deleted Images:\n');
    printEvents(result.events);
    process.stdout.write('\n');
  }
  process.stdout.write(`Total reclaimed space: ${humanSize(result.reclaimedBytes)}\n`);
}
