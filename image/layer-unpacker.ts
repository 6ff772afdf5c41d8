/**
 * Where a layer's bytes are decompressed, hashed for the diffID and unpacked: in this
 * thread, or in a worker thread per layer. The unpacker makes synchronous filesystem calls
 * (one syscall each, much cheaper than Node's async ones), so in the CLI each layer runs in
 * a worker: layers unpack in parallel on every core while the main thread keeps downloading.
 */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestCounter } from '../common/digests.js';
import { InvalidContentError } from '../common/errors.js';
import type { Digest, LayerCompression } from '../oci/index.js';
import { createDecompressor } from './decompress.js';
import { unpackLayer, type UnpackLimits } from './unpack/index.js';
import { UnpackWorkerPool, WorkerSink } from './worker-sink.js';

/** One layer to unpack. */
export interface UnpackJob {
  /** Empty staging directory. */
  readonly dir: string;
  readonly compression: LayerCompression;
  readonly limits: Partial<UnpackLimits>;
  readonly privileged: boolean;
  readonly signal: AbortSignal;
}

/** What an unpack produced. */
export interface UnpackOutcome {
  /** sha256 of the uncompressed stream: the layer's diffID if the content is right. */
  readonly diffId: Digest;
  /** Bytes of regular files. */
  readonly bytes: number;
}

/**
 * Unpacks a compressed layer stream. `source` is piped through `pre` (hashing and blob
 * writing of the compressed bytes) first.
 */
export interface LayerUnpacker {
  unpack(source: Readable, pre: readonly NodeJS.ReadWriteStream[], job: UnpackJob): Promise<UnpackOutcome>;
}

/** Unpacks in the calling thread. */
export class InProcessUnpacker implements LayerUnpacker {
  async unpack(source: Readable, pre: readonly NodeJS.ReadWriteStream[], job: UnpackJob): Promise<UnpackOutcome> {
    return unpackInThisThread(source, pre, job);
  }
}

/**
 * Unpacks each layer in a worker thread running `workerUrl` (the bundled unpack-worker),
 * from a pool: a worker that finished a layer takes the next one.
 */
export class WorkerUnpacker implements LayerUnpacker {
  readonly #pool: UnpackWorkerPool;

  constructor(workerUrl: URL) {
    this.#pool = new UnpackWorkerPool(workerUrl);
  }

  /** Stops the idle workers (they never keep the process alive, so this is optional). */
  async close(): Promise<void> {
    await this.#pool.close();
  }

  async unpack(source: Readable, pre: readonly NodeJS.ReadWriteStream[], job: UnpackJob): Promise<UnpackOutcome> {
    const sink = new WorkerSink(this.#pool, { dir: job.dir, compression: job.compression, limits: job.limits, privileged: job.privileged });
    try {
      await pipeline([source, ...pre, sink], { signal: job.signal });
      return await sink.result();
    } finally {
      // The staging directory is removed after a failure: the worker must be gone first.
      // After a success the worker goes back to the pool.
      await sink.close();
    }
  }
}

/**
 * Decompresses, hashes and unpacks `source` (after `pre`) in this thread. The unpacker
 * consumes the stream to its end (trailing bytes after the tar's end-of-archive blocks
 * count towards the diffID too); a failure on either side stops the other.
 */
export async function unpackInThisThread(source: Readable, pre: readonly NodeJS.ReadWriteStream[], job: UnpackJob): Promise<UnpackOutcome> {
  const diff = new DigestCounter({ what: 'the uncompressed layer' });
  const decompress = createDecompressor(job.compression);
  const tarDone = unpackLayer(diff, job.dir, { limits: job.limits, signal: job.signal, privileged: job.privileged });
  const feed = pipeline([source, ...pre, decompress, diff], { signal: job.signal });
  const [result] = await Promise.all([tarDone, feed]).catch(async (err: unknown) => {
    source.destroy();
    diff.destroy();
    await Promise.allSettled([tarDone, feed]);
    throw err;
  });
  if (diff.digest === undefined) throw new InvalidContentError('Cannot unpack layer: its stream did not end');
  return { diffId: diff.digest, bytes: result.bytes };
}
