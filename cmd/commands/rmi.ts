/** `berth rmi [-f] IMAGE...` (also `image rm`). */
import type { Command } from 'commander';
import { withContext } from '../run.js';
import type { CommandContext } from '../context.js';
import type { RemoveEvent } from '../../image/index.js';

/** Registers `rmi` under `name`. */
export function registerRmi(program: Command, name = 'rmi'): void {
  program
    .command(name)
    .description('Remove one or more images')
    .argument('<images...>', 'image names or IDs')
    .option('-f, --force', 'remove the image even when it is tagged in several repositories')
    .action(withContext(async (ctx, images: string[], flags: { force?: boolean }) => removeImages(ctx, images, flags.force === true)));
}

async function removeImages(ctx: CommandContext, images: readonly string[], force: boolean): Promise<void> {
  const service = ctx.images();
  let firstError: unknown;
  // Like docker, go on with the other images when one fails, and fail at the end.
  for (const image of images) {
    try {
      printEvents(await service.remove(image, { force }));
    } catch (err) {
      if (firstError !== undefined) process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
      firstError ??= err;
    }
  }
  if (firstError !== undefined) throw firstError;
}

/** Prints `Untagged: x` / `Deleted: sha256:…` lines. */
export function printEvents(events: readonly RemoveEvent[]): void {
  for (const e of events) process.stdout.write('untagged' in e ? `Untagged: ${e.untagged}\n` : `Deleted: ${e.deleted}\n`);
}
