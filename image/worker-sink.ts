/**
 * The main-thread end of an unpack worker (see unpack-worker.ts): a Writable that passes
 * the compressed layer bytes to the worker, with flow control (at most {@link maxInFlight}
 * bytes the worker has not consumed yet), and resolves with the worker's result.
 *
 * Protocol (structured-clone messages, defined here and in unpack-worker.ts):
 * - to the worker: `{ type: 'data', chunk: ArrayBuffer }` (transferred), `{ type: 'end' }`;
 * - from the worker: `{ type: 'ack', bytes }` once a chunk was consumed,
 *   `{ type: 'done', diffId, bytes }` or `{ type: 'error', error: SerializedError }`.
 */
import { Writable } from 'node:stream';
import { Worker } from 'node:worker_threads';
import { deserializeError, HelperError, InvalidContentError, type SerializedError } from '../common/errors.js';
import { isDigest, type Digest, type LayerCompression } from '../oci/index.js';
import type { UnpackLimits } from './unpack/index.js';

/** What the worker needs besides the bytes (its workerData). */
export interface UnpackWorkerData {
  readonly dir: string;
  readonly compression: LayerCompression;
  readonly limits: Partial<UnpackLimits>;
  readonly privileged: boolean;
}

/** Messages from the worker. */
export type FromWorker =
  | { readonly type: 'ack'; readonly bytes: number }
  | { readonly type: 'done'; readonly diffId: string; readonly bytes: number }
  | { readonly type: 'error'; readonly error: SerializedError };

/** Messages to the worker. */
export type ToWorker = { readonly type: 'data'; readonly chunk: ArrayBuffer } | { readonly type: 'end' };

/** The worker's result: the uncompressed stream's digest and the regular files' bytes. */
export interface WorkerOutcome {
  readonly diffId: Digest;
  readonly bytes: number;
}

const maxInFlight = 8 << 20;

/** A Writable feeding one unpack worker. Call {@link close} when done, on every path. */
export class WorkerSink extends Writable {
  readonly #worker: Worker;
  readonly #result: Promise<WorkerOutcome>;
  #settle: { resolve: (o: WorkerOutcome) => void; reject: (e: Error) => void } | undefined;
  #inFlight = 0;
  #blocked: ((err?: Error | null) => void) | undefined;
  #exited: Promise<void>;

  constructor(url: URL, data: UnpackWorkerData) {
    super({ highWaterMark: 1 << 20 });
    this.#result = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    // Awaited through result() or close(); never unhandled on its own.
    this.#result.catch(() => undefined);
    this.#worker = new Worker(url, { workerData: data });
    this.#exited = new Promise((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.on('message', (message: FromWorker) => this.#onMessage(message));
    this.#worker.on('error', (err) => this.#fail(new HelperError(`The layer unpack worker failed: ${err.message}`, { stage: 'unpack-worker', cause: err })));
    this.#worker.once('exit', (code) => {
      if (this.#settle !== undefined) this.#fail(new HelperError(`The layer unpack worker exited with code ${code} before it finished`, { stage: 'unpack-worker' }));
    });
  }

  #onMessage(message: FromWorker): void {
    if (message.type === 'ack') {
      this.#inFlight -= message.bytes;
      if (this.#blocked !== undefined && this.#inFlight <= maxInFlight) {
        const resume = this.#blocked;
        this.#blocked = undefined;
        resume();
      }
    } else if (message.type === 'done') {
      if (!isDigest(message.diffId)) return this.#fail(new InvalidContentError('The unpack worker reported an invalid diffID'));
      this.#settle?.resolve({ diffId: message.diffId, bytes: message.bytes });
      this.#settle = undefined;
    } else {
      this.#fail(deserializeError(message.error));
    }
  }

  /** Ends the stream with `err`, once: a settled result is final. */
  #fail(err: Error): void {
    if (this.#settle === undefined) return;
    this.#settle.reject(err);
    this.#settle = undefined;
    const blocked = this.#blocked;
    this.#blocked = undefined;
    blocked?.(err);
    if (!this.writableFinished) this.destroy(err);
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    // A copy the worker may own: the source's buffers can be slices of a shared pool.
    const copy = new Uint8Array(chunk);
    this.#inFlight += copy.byteLength;
    const message: ToWorker = { type: 'data', chunk: copy.buffer };
    this.#worker.postMessage(message, [copy.buffer]);
    if (this.#inFlight <= maxInFlight) callback();
    else this.#blocked = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    const message: ToWorker = { type: 'end' };
    this.#worker.postMessage(message);
    this.#result.then(() => callback(), (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
  }

  /** The worker's result, once the stream has finished. */
  result(): Promise<WorkerOutcome> {
    return this.#result;
  }

  /** Stops the worker if it still runs and waits until it has exited (no more writes to disk). */
  async close(): Promise<void> {
    await this.#worker.terminate();
    await this.#exited;
  }
}
