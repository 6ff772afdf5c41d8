/**
 * Commits a container's writable layer (an overlayfs upper directory) as an image layer,
 * in one streaming pass (DESIGN.md "Snapshots"; STYLE.md §4): the upper directory is read
 * as tar entries (upper-walk.ts), the tar is hashed for the diffID, gzip-compressed, hashed
 * again for the blob's digest and written to a staging blob, which is renamed into place
 * once complete. The stored blob is then unpacked by the pull's own unpacker into the
 * layer directory, so that the new layer is at once an overlay lower, exactly as a pulled
 * layer would be; that pass also checks that the blob gives back the diffID.
 */
import { createReadStream } from 'node:fs';
import { lstat, type FileHandle } from 'node:fs/promises';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { DigestCounter } from '../common/digests.js';
import { BerthError, FailedPreconditionError, InvalidArgumentError, InvalidContentError, InterruptedError, NotFoundError, isErrnoError } from '../common/errors.js';
import { loadFsx } from '../common/sys/fsx.js';
import { MediaType, type Digest } from '../oci/index.js';
import type { ContentStore } from './content-store.js';
import { unpackInThisThread } from './layer-unpacker.js';
import { encodeTarHeader, endOfArchive, tarPadding } from './tar-header.js';
import { UpperWalker } from './upper-walk.js';

/** Options of {@link commitUpper}. */
export interface CommitOptions {
  /** Aborting stops the commit with InterruptedError; nothing is left in the store. */
  readonly signal?: AbortSignal | undefined;
  /**
   * SOURCE_DATE_EPOCH, in seconds: mtimes later than it are written as it (BuildKit's
   * rewrite-timestamp), so that the same tree gives the same digests.
   */
  readonly sourceDateEpoch?: number | undefined;
  /**
   * Leaves out an entry of the upper directory (a directory with its contents), given its
   * path in the container ("/etc/hosts"; a whiteout's is the path it deletes): the mount
   * points berth made there are not the container's doing.
   */
  readonly exclude?: ((path: string) => boolean) | undefined;
}

/** A committed layer: its blob is in the store, and its unpacked directory too. */
export interface CommittedLayer {
  /** sha256 of the uncompressed tar (the config's rootfs.diff_ids). */
  readonly diffId: Digest;
  /** sha256 of the gzip blob (the manifest's layer descriptor). */
  readonly digest: Digest;
  /** Bytes of the gzip blob. */
  readonly size: number;
  readonly mediaType: typeof MediaType.ociLayerGzip;
  /** True when the upper directory held no change: the layer is an empty tar. */
  readonly empty: boolean;
}

const readChunk = 256 * 1024;

/** Our own tar: the pull's limits against hostile layers do not apply to it. */
const ownLayerLimits = {
  maxEntries: Number.MAX_SAFE_INTEGER,
  maxPaxHeaderBytes: Number.MAX_SAFE_INTEGER,
  maxUnpackedBytes: Number.MAX_SAFE_INTEGER,
  maxPathBytes: Number.MAX_SAFE_INTEGER,
};

/**
 * Commits the overlay upper directory `upper` as a gzip layer into `store` (see the
 * module comment). The upper directory must not change meanwhile: stop or pause its
 * container. Throws NotFoundError (no `upper`), InvalidArgumentError (`sourceDateEpoch`),
 * UnsupportedError (names that are not UTF-8; an upper written with redirect_dir or
 * metacopy), InterruptedError (`signal`), and the store's and unpacker's errors.
 */
export async function commitUpper(upper: string, store: ContentStore, options: CommitOptions = {}): Promise<CommittedLayer> {
  const { signal, sourceDateEpoch } = options;
  if (sourceDateEpoch !== undefined && !(Number.isSafeInteger(sourceDateEpoch) && sourceDateEpoch >= 0)) {
    throw new InvalidArgumentError(`Invalid source date epoch ${String(sourceDateEpoch)}: it is not a whole number of seconds since 1970`, {
      hint: 'Set SOURCE_DATE_EPOCH to a Unix time, such as the output of "git log -1 --format=%ct"',
    });
  }
  await checkDirectory(upper);
  const walker = new UpperWalker(upper, loadFsx(), { sourceDateEpoch, exclude: options.exclude, signal });
  const layer = await writeBlob(walker, store, signal);
  await storeLayer(store, layer, signal);
  return { ...layer, mediaType: MediaType.ociLayerGzip };
}

async function checkDirectory(upper: string): Promise<void> {
  try {
    if ((await lstat(upper)).isDirectory()) return;
  } catch (err) {
    if (!isErrnoError(err, 'ENOENT')) throw err;
  }
  throw new NotFoundError(`Cannot commit the layer: its upper directory "${upper}" does not exist`);
}

/** Tars, hashes, compresses and stores the blob. */
async function writeBlob(walker: UpperWalker, store: ContentStore, signal: AbortSignal | undefined): Promise<Omit<CommittedLayer, 'mediaType'>> {
  const counts = { entries: 0 };
  const diff = new DigestCounter({ what: 'the uncompressed layer' });
  const blob = await store.write({ what: 'the committed layer' });
  try {
    const tar = Readable.from(tarStream(walker, counts), { objectMode: false, highWaterMark: 1 << 20 });
    const discard = new Writable({ write: (_chunk, _encoding, callback) => callback() });
    await pipeline([tar, diff, createGzip(), ...blob.streams, discard], signal === undefined ? {} : { signal });
    const { digest, size } = await blob.commit();
    if (diff.digest === undefined) throw new InvalidContentError('Cannot commit the layer: its tar stream did not end');
    return { diffId: diff.digest, digest, size, empty: counts.entries === 0 };
  } catch (err) {
    await blob.abort();
    throw commitError(err, signal);
  }
}

/** The tar of the walker's entries: headers, file data, padding, the end-of-archive blocks. */
async function* tarStream(walker: UpperWalker, counts: { entries: number }): AsyncGenerator<Buffer> {
  for await (const entry of walker.entries()) {
    counts.entries++;
    yield encodeTarHeader(entry.header);
    if (entry.file !== undefined && entry.header.size > 0) {
      yield* fileData(entry.file, entry.header.size);
      yield tarPadding(entry.header.size);
    }
  }
  yield endOfArchive;
}

/**
 * Exactly `size` bytes of `file`, as its header announced: a file that shrank while read
 * is padded with zeros and one that grew is cut, so the archive stays well formed.
 */
async function* fileData(file: FileHandle, size: number): AsyncGenerator<Buffer> {
  let offset = 0;
  while (offset < size) {
    // A fresh buffer per chunk: the streams after this one keep what they are given.
    const buffer = Buffer.allocUnsafe(Math.min(readChunk, size - offset));
    const { bytesRead } = await file.read(buffer, 0, buffer.length, offset);
    if (bytesRead === 0) {
      yield Buffer.alloc(size - offset);
      return;
    }
    offset += bytesRead;
    yield buffer.subarray(0, bytesRead);
  }
}

/**
 * Unpacks the stored blob into the layer directory of its diffID (unless that layer is
 * already there), through the pull's unpacker and staging.
 */
async function storeLayer(store: ContentStore, layer: { diffId: Digest; digest: Digest }, signal: AbortSignal | undefined): Promise<void> {
  if (await store.hasLayer(layer.diffId)) return;
  const staging = await store.stageLayer();
  try {
    const source = createReadStream(store.blobPath(layer.digest), { highWaterMark: 1 << 20 });
    const outcome = await unpackInThisThread(source, [], {
      dir: staging.dir, compression: 'gzip', limits: ownLayerLimits, privileged: process.geteuid?.() === 0, signal: signal ?? new AbortController().signal,
    });
    if (outcome.diffId !== layer.diffId) {
      throw new InvalidContentError(`Cannot commit the layer: its blob "${layer.digest}" unpacks to "${outcome.diffId}", not its diffID "${layer.diffId}"`);
    }
    await staging.commit(layer.diffId);
  } catch (err) {
    await staging.abort();
    throw commitError(err, signal);
  }
}

function commitError(err: unknown, signal: AbortSignal | undefined): unknown {
  if (signal?.aborted === true && !(err instanceof InterruptedError)) return new InterruptedError('Committing the layer was interrupted', { cause: err });
  if (err instanceof BerthError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  // The host refused a read or a write (EACCES, EIO, ENOSPC): its message names the path.
  if (isErrnoError(err) && typeof err.syscall === 'string') return new FailedPreconditionError(`Cannot commit the layer: ${reason}`, { cause: err });
  return new InvalidContentError(`Cannot commit the layer: ${reason}`, { cause: err });
}
