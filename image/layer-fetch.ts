/**
 * One layer of a pull, in one streaming pass (DESIGN.md "Images"): the registry response
 * is hashed and counted against the layer descriptor, written to a staging blob, and at
 * the same time decompressed, hashed again for the diffID and unpacked into a staging
 * layer directory. Only when both digests and the size check out are the blob and the
 * layer renamed into place; on any failure both staging copies are removed.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestCounter } from '../common/digests.js';
import { BerthError, InvalidContentError, InterruptedError } from '../common/errors.js';
import type { Descriptor, Digest, LayerCompression } from '../oci/index.js';
import type { ContentStore } from './content-store.js';
import { createDecompressor } from './decompress.js';
import { unpackLayer, type UnpackLimits } from './unpack/index.js';

/** Where a layer's bytes come from. */
export type BlobFetcher = (digest: Digest, signal: AbortSignal) => Promise<{ body: Readable; size: number | undefined }>;

/** What {@link fetchLayer} needs. */
export interface LayerJob {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly compression: LayerCompression;
  readonly store: ContentStore;
  readonly fetch: BlobFetcher;
  readonly signal: AbortSignal;
  readonly limits?: Partial<UnpackLimits> | undefined;
  readonly privileged: boolean;
  /** Called with the number of compressed bytes received. */
  readonly onBytes?: ((n: number) => void) | undefined;
}

/** How a layer was obtained. */
export type LayerOutcome = 'exists' | 'unpacked' | 'downloaded';

/** Fetches and unpacks one layer unless it is already present; returns its unpacked size. */
export async function fetchLayer(job: LayerJob): Promise<{ outcome: LayerOutcome; size: number }> {
  const { store, descriptor, diffId } = job;
  if (await store.hasLayer(diffId)) return { outcome: 'exists', size: -1 };
  const what = `layer "${descriptor.digest}"`;
  const staging = await store.stageLayer();
  try {
    if (await store.hasBlob(descriptor.digest)) {
      // The blob is whole and verified; only the unpacked tree is missing.
      const source = createReadStream(store.blobPath(descriptor.digest), { highWaterMark: 1 << 20 });
      const size = await unpackVerified(source, [], job, staging.dir, what);
      await staging.commit(diffId);
      return { outcome: 'unpacked', size };
    }
    const { body } = await job.fetch(descriptor.digest, job.signal);
    const ingest = await store.ingest(descriptor.digest, descriptor.size, what, job.onBytes);
    try {
      const size = await unpackVerified(body, ingest.streams, job, staging.dir, what);
      await ingest.commit();
      await staging.commit(diffId);
      return { outcome: 'downloaded', size };
    } catch (err) {
      await ingest.abort();
      throw describeFailure(err, what, ingest.streams[0].bytes, descriptor.size, job.compression);
    }
  } catch (err) {
    await staging.abort();
    if (job.signal.aborted) throw new InterruptedError('Pull was interrupted', { cause: err });
    if (err instanceof BerthError) throw err;
    throw new InvalidContentError(`Cannot fetch ${what}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}

/**
 * Turns a failure in the middle of a layer's stream into what went wrong for the user:
 * a transfer that ended early, or compressed data that does not decompress.
 */
function describeFailure(err: unknown, what: string, received: number, declared: number, compression: LayerCompression): unknown {
  if (err instanceof BerthError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  const retry = 'The registry or the network broke the transfer, or the image is damaged; pull again';
  if (received < declared) {
    return new InvalidContentError(`Cannot fetch ${what}: the download was truncated after ${received} of ${declared} bytes (${reason})`, { hint: retry, cause: err });
  }
  if (compression !== 'none' && isZlibError(err)) {
    return new InvalidContentError(`Cannot fetch ${what}: its ${compression} data is corrupt (${reason})`, { hint: retry, cause: err });
  }
  return new InvalidContentError(`Cannot fetch ${what}: ${reason}`, { hint: retry, cause: err });
}

function isZlibError(err: unknown): boolean {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' && err.code.startsWith('Z_');
}

/** Streams `source` through `pre`, decompression and the diffID check into the unpacker. */
async function unpackVerified(
  source: Readable,
  pre: readonly NodeJS.ReadWriteStream[],
  job: LayerJob,
  dir: string,
  what: string,
): Promise<number> {
  const diff = new DigestCounter({ what: `the uncompressed ${what}` });
  const decompress = createDecompressor(job.compression);
  const tarDone = unpackLayer(diff, dir, { limits: job.limits ?? {}, signal: job.signal, privileged: job.privileged });
  // The unpacker consumes `diff` to its end (trailing bytes after the tar's end-of-archive
  // blocks count towards the diffID too); a failure on either side must stop the other.
  const feed = pipeline([source, ...pre, decompress, diff], { signal: job.signal });
  const [result] = await Promise.all([tarDone, feed]).catch(async (err: unknown) => {
    source.destroy();
    diff.destroy();
    await Promise.allSettled([tarDone, feed]);
    throw err;
  });
  diff.verify({ digest: job.diffId });
  return result.bytes;
}
