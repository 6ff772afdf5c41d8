/**
 * One layer of a pull, in one streaming pass (DESIGN.md "Images"): the registry response
 * is hashed and counted against the layer descriptor, written to a staging blob, and at
 * the same time decompressed, hashed again for the diffID and unpacked into a staging
 * layer directory. Only when both digests and the size check out are the blob and the
 * layer renamed into place; on any failure both staging copies are removed.
 */
import { createReadStream } from 'node:fs';
import type { Readable } from 'node:stream';
import { BerthError, InvalidContentError, InterruptedError } from '../common/errors.js';
import type { Descriptor, Digest, LayerCompression } from '../oci/index.js';
import type { ContentStore } from './content-store.js';
import type { LayerUnpacker, UnpackOutcome } from './layer-unpacker.js';
import type { UnpackLimits } from './unpack/index.js';

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
  /** Where the layer is decompressed and unpacked (this thread or a worker). */
  readonly unpacker: LayerUnpacker;
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
      const size = checkDiffId(await unpack(source, [], job, staging.dir), job, what);
      await staging.commit(diffId);
      return { outcome: 'unpacked', size };
    }
    const { body } = await job.fetch(descriptor.digest, job.signal);
    const ingest = await store.ingest(descriptor.digest, { size: descriptor.size, what, onBytes: job.onBytes });
    try {
      const outcome = await unpack(body, ingest.streams, job, staging.dir);
      // The blob's own digest first: it is what the manifest vouches for.
      await ingest.commit();
      const size = checkDiffId(outcome, job, what);
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

/** Unpacks `source` (through `pre`) into `dir` with the job's unpacker. */
async function unpack(source: Readable, pre: readonly NodeJS.ReadWriteStream[], job: LayerJob, dir: string): Promise<UnpackOutcome> {
  return job.unpacker.unpack(source, pre, {
    dir, compression: job.compression, limits: job.limits ?? {}, privileged: job.privileged, signal: job.signal,
  });
}

/** Throws unless the unpacked stream hashed to the layer's diffID; returns its file bytes. */
function checkDiffId(outcome: UnpackOutcome, job: LayerJob, what: string): number {
  if (outcome.diffId !== job.diffId) {
    throw new InvalidContentError(`Cannot verify the uncompressed ${what}: its digest is "${outcome.diffId}", expected the diffID "${job.diffId}"`, {
      hint: "The layer does not match the image's config; the image is damaged",
    });
  }
  return outcome.bytes;
}
