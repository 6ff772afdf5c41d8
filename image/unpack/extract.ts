/**
 * unpackLayer: one streaming pass from an uncompressed layer tar to an overlayfs lower
 * directory. The bytes flow source → TarScanner (limits, raw PAX) → tar-stream extract →
 * EntryWriter, through stream/promises.pipeline; entries are handled one at a time and
 * file contents are piped to disk, so memory stays bounded whatever the layer holds.
 */
import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type Extract } from 'tar-stream';
import { throwIfAborted } from '../../common/errors.js';
import { parseEntry } from './entry.js';
import { EntryWriter } from './entry-writer.js';
import { LayerRoot } from './layer-root.js';
import { limitExceeded, resolveUnpackLimits, type UnpackLimits } from './limits.js';
import type { MetadataPolicy } from './metadata.js';
import { TarScanner, createScanTransform } from './tar-scanner.js';
import { toUnpackError } from './unpack-error.js';
import { opaqueXattr } from './whiteout.js';

/** Options of {@link unpackLayer}. */
export interface UnpackOptions {
  /** Overrides of {@link defaultUnpackLimits}, by name (berth's config.json `limits`). */
  readonly limits?: Partial<UnpackLimits>;
  /** Aborting stops the unpack with InterruptedError and destroys the source. */
  readonly signal?: AbortSignal;
  /**
   * False when not root: ownership is not changed, device nodes are skipped, trusted.* and
   * security.* xattrs are skipped, and opaque directories get `user.overlay.opaque`
   * (rootless overlay with `userxattr`). Defaults to whether the process runs as root.
   */
  readonly privileged?: boolean;
}

/** What an unpack wrote. */
export interface UnpackResult {
  /** Tar entries read, whiteouts and ignored entries included. */
  readonly entries: number;
  /** Sum of the sizes of the regular files in the layer. */
  readonly bytes: number;
}

/** A layer tar: a byte stream or any async iterable of chunks (a decompressor's output). */
export type LayerSource = Readable | AsyncIterable<Uint8Array>;

/**
 * Unpacks the uncompressed OCI layer tar `tar` into `dir`, an existing empty directory
 * that will be used as an overlayfs lower, and resolves once everything is on disk with
 * its final metadata. Entries never reach outside `dir` (see layer-root.ts); whiteouts take
 * overlay form (see whiteout.ts).
 *
 * On failure `dir` holds a partial layer that the caller must discard. Throws:
 * LimitExceededError (a limit of {@link UnpackLimits}), InvalidContentError (malformed or
 * unextractable tar), InterruptedError (`signal` aborted), NotFoundError/InvalidArgumentError
 * (`dir`), FailedPreconditionError/RequiresRootError (the host refused a write).
 */
export async function unpackLayer(tar: LayerSource, dir: string, options: UnpackOptions = {}): Promise<UnpackResult> {
  let writer: EntryWriter;
  let limits: UnpackLimits;
  const { signal } = options;
  try {
    limits = resolveUnpackLimits(options.limits);
    throwIfAborted(signal, 'Unpacking the layer');
    const privileged = options.privileged ?? process.geteuid?.() === 0;
    const root = await LayerRoot.open(dir, opaqueXattr(privileged));
    writer = new EntryWriter(root, await metadataPolicy(root, privileged));
  } catch (err) {
    // The source is ours from the call on: never leave it open.
    if (isDestroyable(tar)) tar.destroy();
    throw err;
  }
  const scanner = new TarScanner(limits);
  const extractor = extract();
  const feeding = pipeline(tar, createScanTransform(scanner), extractor, signal === undefined ? {} : { signal });
  // Awaited below on every path; this only keeps an early rejection from being "unhandled".
  feeding.catch(() => undefined);
  const progress: Progress = { entries: 0, bytes: 0, current: undefined, feedFailedFirst: true };
  try {
    await writeEntries(extractor, scanner, writer, limits, progress);
    await feeding;
    throwIfAborted(signal, 'Unpacking the layer');
    writer.finish();
    return { entries: progress.entries, bytes: progress.bytes };
  } catch (err) {
    extractor.destroy();
    if (isDestroyable(tar)) tar.destroy();
    const feedError = await feeding.then(
      () => undefined,
      (e: unknown) => e,
    );
    // When the feed failed first (source error, limit, corrupt tar, abort), the entry being
    // written only saw its stream vanish: the feed's error is the one to report.
    const cause = progress.feedFailedFirst && feedError !== undefined ? feedError : err;
    throw toUnpackError(cause, { dir, entry: progress.current, signal });
  }
}

interface Progress {
  entries: number;
  bytes: number;
  /** The name of the entry being written, for error messages. */
  current: string | undefined;
  /** False when writing an entry failed while the feed was still healthy. */
  feedFailedFirst: boolean;
}

async function writeEntries(extractor: Extract, scanner: TarScanner, writer: EntryWriter, limits: UnpackLimits, progress: Progress): Promise<void> {
  for await (const stream of extractor) {
    try {
      progress.current = stream.header.name;
      if (++progress.entries > limits.maxEntries) throw limitExceeded('maxEntries', limits.maxEntries, 'the number of entries');
      // stream.offset is where tar-stream read this entry's header block (extract.js).
      const entry = parseEntry(stream.header, scanner.takePax(stream.offset), limits);
      // Data of non-file entries (and of ignored files) must be drained for tar-stream to go on.
      if (entry.type !== 'file') stream.resume();
      await writer.write(entry, stream);
      stream.resume();
      progress.bytes += entry.size;
    } catch (err) {
      // Checked before the loop's exit destroys the extractor itself.
      progress.feedFailedFirst = extractor.destroying;
      throw err;
    }
  }
  progress.current = undefined;
}

function isDestroyable(source: LayerSource): source is Readable {
  return 'destroy' in source && typeof source.destroy === 'function';
}

/** The metadata policy for this process and layer directory. */
async function metadataPolicy(root: LayerRoot, privileged: boolean): Promise<MetadataPolicy> {
  const uid = process.geteuid?.();
  const gid = process.getegid?.();
  // New files inherit the group of a setgid directory: then every owner is set explicitly.
  const defaultOwner = uid === undefined || gid === undefined || root.setgid ? undefined : { uid, gid };
  return { privileged, defaultOwner, umask: await readUmask(), fsx: root.fsx };
}

/**
 * The process umask from /proc/self/status (Linux 4.7+), without process.umask()'s
 * deprecated set-and-restore read; 0o777 (always chmod) when it cannot be read.
 */
async function readUmask(): Promise<number> {
  try {
    const status = await readFile('/proc/self/status', 'latin1');
    const match = /^Umask:\s+([0-7]+)$/m.exec(status);
    return match?.[1] === undefined ? 0o777 : parseInt(match[1], 8);
  } catch {
    // No /proc: not an error worth failing for; every mode is then set explicitly.
    return 0o777;
  }
}
