/** `berth inspect` (containers, then images) and `berth container inspect`, in docker's shape. */
import type { Command } from 'commander';
import { NotFoundError } from '../../common/errors.js';
import { inspectImage } from '../../image/index.js';
import { containerLowerDirs, inspectContainer } from '../../runtime/index.js';
import type { CommandContext } from '../context.js';
import { applyTemplate } from './ps.js';
import { withContext } from '../run.js';

export function registerInspect(program: Command, containersOnly: boolean): void {
  program.command('inspect').description(containersOnly ? 'Display detailed information on one or more containers' : 'Return low-level information on containers or images')
    .argument('<names...>')
    .option('-f, --format <format>', 'format the output: json (default) or a {{.Field}} template')
    .action(withContext(async (ctx, names: string[], flags: { format?: string }) => inspect(ctx, names, containersOnly, flags.format)));
}

async function inspect(ctx: CommandContext, names: readonly string[], containersOnly: boolean, format: string | undefined): Promise<void> {
  const engine = ctx.engine();
  const docs: Record<string, unknown>[] = [];
  let missing: unknown;
  for (const name of names) {
    try {
      const view = engine.find(name);
      docs.push(inspectContainer(engine, view, containerLowerDirs(ctx.images(), ctx.layout, view), await engine.networkSettings(view.record)));
      continue;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      if (containersOnly) {
        missing ??= err;
        continue;
      }
    }
    try {
      docs.push(await inspectImage(ctx.images().find(name), ctx.store(), await ctx.validator()) as unknown as Record<string, unknown>);
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
      missing ??= new NotFoundError(`No such object: ${name}`);
    }
  }
  if (format === undefined || format === 'json') process.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
  else for (const d of docs) process.stdout.write(`${applyTemplate(format, d)}\n`);
  if (missing !== undefined) throw missing;
}
