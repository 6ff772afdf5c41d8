/** `berth pull NAME[:TAG|@DIGEST] [--platform P] [-q] [-a]`. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../common/errors.js';
import {
  familiarString, parsePlatform, parseReference, repositoryName, type ImageReference,
} from '../../image/index.js';
import type { CommandContext } from '../context.js';
import { withContext } from '../run.js';

interface PullFlags {
  readonly platform?: string;
  readonly quiet?: boolean;
  readonly allTags?: boolean;
}

/** Registers `pull` on `program` (also used for `image pull`). */
export function registerPull(program: Command): void {
  program
    .command('pull')
    .description('Download an image from a registry')
    .argument('<name>', 'image name, with an optional :tag or @digest')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image (default: this host)')
    .option('-q, --quiet', 'print only the image reference')
    .option('-a, --all-tags', 'download every tagged image of the repository')
    .action(withContext(async (ctx, name: string, flags: PullFlags) => pull(ctx, name, flags)));
}

/** The puller and the progress display, loaded on first use (see loadPulling). */
async function pullerFor(ctx: CommandContext) {
  const [{ createPullReporter }, registry] = await Promise.all([import('../progress.js'), ctx.registry()]);
  const puller = await ctx.puller(registry);
  return { puller, registry, createPullReporter };
}

async function pull(ctx: CommandContext, name: string, flags: PullFlags): Promise<void> {
  const ref = parseReference(name);
  const signal = interruptSignal();
  const { puller, registry, createPullReporter } = await pullerFor(ctx);
  const platform = flags.platform === undefined ? undefined : parsePlatform(flags.platform);
  let refs: ImageReference[] = [ref];
  if (flags.allTags === true) {
    if (ref.digest !== undefined || hasExplicitTag(name)) {
      throw new InvalidArgumentError(`Cannot pull "${name}" with --all-tags: it names a tag or digest`, {
        hint: `Give the repository only: "berth pull -a ${familiarString({ domain: ref.domain, path: ref.path })}"`,
      });
    }
    const tags = await registry.listTags(ref, { signal });
    refs = tags.map((tag) => ({ domain: ref.domain, path: ref.path, tag }));
  } else if (!hasExplicitTag(name) && ref.digest === undefined && flags.quiet !== true) {
    process.stdout.write('Using default tag: latest\n');
  }
  for (const r of refs) {
    const reporter = createPullReporter(process.stdout, flags.quiet === true);
    reporter.line(`${r.digest ?? r.tag ?? 'latest'}: Pulling from ${familiarString({ domain: r.domain, path: r.path })}`);
    try {
      const result = await puller.pull(r, { platform, signal, progress: reporter });
      reporter.stop();
      const shown = familiarString(r);
      reporter.line(`Digest: ${result.digest}`);
      reporter.line(result.changed ? `Status: Downloaded newer image for ${shown}` : `Status: Image is up to date for ${shown}`);
      process.stdout.write(`${r.digest === undefined ? result.reference : `${repositoryName(r)}@${r.digest}`}\n`);
    } finally {
      reporter.stop();
    }
  }
}

/**
 * Pulls one image for `run`/`create` when it is missing (or with --pull always; the policy
 * is runtime's), showing progress on `out` as docker run does on stderr; resolves with the
 * image's id.
 */
export async function pullForRun(ctx: CommandContext, name: string, out: NodeJS.WriteStream, signal?: AbortSignal): Promise<string> {
  const ref = parseReference(name);
  const { puller, createPullReporter } = await pullerFor(ctx);
  const reporter = createPullReporter(out, false);
  reporter.line(`${ref.digest ?? ref.tag ?? 'latest'}: Pulling from ${familiarString({ domain: ref.domain, path: ref.path })}`);
  try {
    const result = await puller.pull(ref, { signal, progress: reporter });
    reporter.stop();
    reporter.line(`Digest: ${result.digest}`);
    reporter.line(result.changed ? `Status: Downloaded newer image for ${familiarString(ref)}` : `Status: Image is up to date for ${familiarString(ref)}`);
    return result.imageId;
  } finally {
    reporter.stop();
  }
}

function hasExplicitTag(name: string): boolean {
  const lastSlash = name.lastIndexOf('/');
  const tail = name.slice(lastSlash + 1).split('@')[0] ?? '';
  return tail.includes(':');
}

/** An AbortSignal that fires on the first SIGINT or SIGTERM, so a pull stops and cleans up. */
function interruptSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (sig: NodeJS.Signals): void => controller.abort(new Error(`received ${sig}`));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  return controller.signal;
}
