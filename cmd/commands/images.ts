/** `berth images [-a] [-q] [--digests] [--format json|table] [REPOSITORY[:TAG]]` (also `image ls`). */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../common/errors.js';
import { familiarName, parseReference, type ImageRecord } from '../../image/index.js';
import type { CommandContext } from '../context.js';
import { since } from '../../runtime/index.js';
import { humanSize, shortId, table } from '../format.js';
import { withContext } from '../run.js';

interface ImagesFlags {
  readonly all?: boolean;
  readonly quiet?: boolean;
  readonly digests?: boolean;
  readonly noTrunc?: boolean;
  readonly format?: string;
}

/** One row of the listing, in docker's field names for `--format json`. */
interface ImageRow {
  readonly Containers: string;
  readonly CreatedAt: string;
  readonly CreatedSince: string;
  readonly Digest: string;
  readonly ID: string;
  readonly Repository: string;
  readonly SharedSize: string;
  readonly Size: string;
  readonly Tag: string;
  readonly UniqueSize: string;
  readonly VirtualSize: string;
}

/** Registers `images` (and returns the command so `image ls` can reuse the action). */
export function registerImages(program: Command, name = 'images'): void {
  program
    .command(name)
    .description('List images')
    .argument('[repository]', 'show only images of this repository (and tag)')
    .option('-a, --all', 'show all images (berth keeps no intermediate images, so the same list)')
    .option('-q, --quiet', 'only show image IDs')
    .option('--digests', 'show digests')
    .option('--no-trunc', 'do not truncate output')
    .option('--format <format>', 'output format: "table" (default) or "json"', 'table')
    .action(withContext((ctx, repository: string | undefined, flags: ImagesFlags) => listImages(ctx, repository, flags)));
}

function listImages(ctx: CommandContext, repository: string | undefined, flags: ImagesFlags): void {
  if (flags.format !== 'table' && flags.format !== 'json') {
    throw new InvalidArgumentError(`Unknown format "${flags.format ?? ''}"`, { hint: 'Use --format table or --format json' });
  }
  const images = ctx.images().list();
  const rows = images.flatMap((image) => rowsOf(image, flags.noTrunc !== true)).filter((row) => matches(row, repository));
  const out = process.stdout;
  if (flags.quiet === true) {
    out.write([...new Set(rows.map((r) => r.ID))].map((id) => `${id}\n`).join(''));
  } else if (flags.format === 'json') {
    out.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
  } else {
    const headers = flags.digests === true ? ['REPOSITORY', 'TAG', 'DIGEST', 'IMAGE ID', 'CREATED', 'SIZE'] : ['REPOSITORY', 'TAG', 'IMAGE ID', 'CREATED', 'SIZE'];
    out.write(table(headers, rows.map((r) => (flags.digests === true
      ? [r.Repository, r.Tag, r.Digest, r.ID, r.CreatedSince, r.Size]
      : [r.Repository, r.Tag, r.ID, r.CreatedSince, r.Size]))));
  }
}

function matches(row: ImageRow, filter: string | undefined): boolean {
  if (filter === undefined) return true;
  const ref = parseReference(filter);
  const hasTag = filter.slice(filter.lastIndexOf('/') + 1).includes(':');
  return row.Repository === familiarName(ref) && (!hasTag || row.Tag === ref.tag);
}

function rowsOf(image: ImageRecord, truncate: boolean): ImageRow[] {
  const id = truncate ? shortId(image.id) : image.id;
  const digestOf = (repo: string): string => image.repoDigests.find((d) => d.startsWith(`${repo}@`))?.split('@')[1] ?? '<none>';
  const base = {
    Containers: 'N/A', CreatedAt: image.created ?? '', CreatedSince: since(image.created), ID: id,
    SharedSize: 'N/A', Size: humanSize(image.size), UniqueSize: 'N/A', VirtualSize: humanSize(image.size),
  };
  const named = image.tags.map((t) => {
    const ref = parseReference(t);
    return { ...base, Repository: familiarName(ref), Tag: ref.tag ?? '<none>', Digest: digestOf(`${ref.domain}/${ref.path}`) };
  });
  if (named.length > 0) return named;
  // An untagged image shows its repo digests' repositories with tag <none>, or <none> twice.
  const byDigest = image.repoDigests.map((d) => {
    const ref = parseReference(d);
    return { ...base, Repository: familiarName(ref), Tag: '<none>', Digest: ref.digest ?? '<none>' };
  });
  return byDigest.length > 0 ? byDigest : [{ ...base, Repository: '<none>', Tag: '<none>', Digest: '<none>' }];
}
