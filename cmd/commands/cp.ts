/**
 * `berth cp [-a] [-L] CONTAINER:SRC DEST|-` and `berth cp [-a] [-L] SRC|- CONTAINER:DEST`
 * (docker cp), and `berth diff CONTAINER` (docker diff).
 */
import type { Command } from 'commander';
import { UsageError } from '../../common/errors.js';
import { withContext } from '../run.js';

/** "name:path" splits at the first ":" unless the part before it looks like a local path. */
function splitRef(arg: string): { container?: string; path: string } {
  if (arg.startsWith('/') || arg.startsWith('.') || arg === '-') return { path: arg };
  const colon = arg.indexOf(':');
  if (colon <= 0) return { path: arg };
  return { container: arg.slice(0, colon), path: arg.slice(colon + 1) };
}

export function registerCp(program: Command): void {
  program.command('cp').description('Copy files/folders between a container and the local filesystem')
    .argument('<src>', 'CONTAINER:SRC_PATH, a local path, or - for a tar stream on stdin')
    .argument('<dest>', 'CONTAINER:DEST_PATH, a local path, or - for a tar stream on stdout')
    .option('-a, --archive', 'archive mode: keep uid/gid')
    .option('-L, --follow-link', 'always follow a symbolic link in SRC_PATH')
    .action(withContext(async (ctx, srcArg: string, destArg: string, flags: { archive?: boolean; followLink?: boolean }) => {
      const src = splitRef(srcArg);
      const dest = splitRef(destArg);
      if ((src.container === undefined) === (dest.container === undefined)) {
        throw new UsageError('Copying between containers, or between two local paths, is not supported', {
          hint: 'Give exactly one of the two as CONTAINER:PATH',
        });
      }
      const engine = ctx.engine();
      if (src.container !== undefined) {
        await engine.copyOut(src.container, src.path, dest.path === '-' ? process.stdout : dest.path, { followLink: flags.followLink === true });
      } else if (dest.container !== undefined) {
        await engine.copyIn(dest.container, src.path === '-' ? process.stdin : src.path, dest.path, {
          archive: flags.archive === true, followLink: flags.followLink === true,
        });
      }
    }));
}

export function registerDiff(program: Command): void {
  program.command('diff').description('Inspect changes to files or directories on a container\'s filesystem')
    .argument('<container>')
    .action(withContext(async (ctx, name: string) => {
      for (const c of await ctx.engine().changes(name)) process.stdout.write(`${c.kind} ${c.path}\n`);
    }));
}
