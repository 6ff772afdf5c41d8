/**
 * The main-thread end of the unpack workers (see unpack-worker.ts): a pool of worker
 * threads, and a Writable that passes one layer's compressed bytes to a worker, with flow
 * control (at most {@link maxInFlight} bytes the worker has not consumed yet), and
 * resolves with the worker's result.
 *
 * Protocol (structured-clone messages, defined here and in unpack-worker.ts), per layer:
 * - to the worker: `{ type: 'job', job }`, then `{ type: 'data', chunk: ArrayBuffer }`
 *   (transferred) any number of times, then `{ type: 'end' }`;
 * - from the worker: `{ type: 'ack', bytes }` once a chunk was consumed, then
 *   `{ type: 'done', diffId, bytes }`, after which it waits for the next job, or
 *   `{ type: 'error', error: SerializedError }`, after which it takes no more jobs.
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
export type ToWorker =
  | { readonly type: 'job'; readonly job: UnpackWorkerData }
  | { readonly type: 'data'; readonly chunk: ArrayBuffer }
  | { readonly type: 'end' };

/** The worker's result: the uncompressed stream's digest and the regular files' bytes. */
export interface WorkerOutcome {
  readonly diffId: Digest;
  readonly bytes: number;
}

const maxInFlight = 8 << 20;

/**
 * Unpack worker threads, started when a layer needs one and none is idle, kept idle
 * (unref'd: they never keep the process alive) for the next layer after a success, and
 * terminated after a failure. {@link close} stops the idle ones.
 */
export class UnpackWorkerPool {
  readonly #url: URL;
  readonly #idle = new Set<Worker>();

  constructor(url: URL) {
    this.#url = url;
  }

  /** A worker for one layer: an idle one, or a new one. */
  acquire(): Worker {
    for (const worker of this.#idle) {
      this.#idle.delete(worker);
      worker.ref();
      return worker;
    }
    return new Worker(this.#url);
  }

  /** Takes back a worker that finished its layer and waits for the next. */
  release(worker: Worker): void {
    worker.unref();
    this.#idle.add(worker);
    // An idle worker that dies is simply forgotten.
    worker.once('exit', () => this.#idle.delete(worker));
  }

  /** Terminates the idle workers. */
  async close(): Promise<void> {
    const idle = [...this.#idle];
    this.#idle.clear();
    await Promise.all(idle.map((worker) => worker.terminate()));
  }
}

/** A Writable feeding one layer to a pooled unpack worker. Call {@link close} when done, on every path. */
export class WorkerSink extends Writable {
  readonly #pool: UnpackWorkerPool;
  readonly #worker: Worker;
  readonly #listeners: { readonly message: (m: FromWorker) => void; readonly error: (e: Error) => void; readonly exit: (code: number) => void };
  #succeeded = false;
  readonly #result: Promise<WorkerOutcome>;
  #settle: { resolve: (o: WorkerOutcome) => void; reject: (e: Error) => void } | undefined;
  #inFlight = 0;
  #blocked: ((err?: Error | null) => void) | undefined;

  constructor(pool: UnpackWorkerPool, data: UnpackWorkerData) {
    super({ highWaterMark: 1 << 20 });
    this.#result = new Promise((resolve, reject) => (this.#settle = { resolve, reject }));
    // Awaited through result() or close(); never unhandled on its own.
    this.#result.catch(() => undefined);
    this.#pool = pool;
    this.#worker = pool.acquire();
    this.#listeners = {
      message: (message) => this.#onMessage(message),
      error: (err) => this.#fail(new HelperError(`The layer unpack worker failed: ${err.message}`, { stage: 'unpack-worker', cause: err })),
      exit: (code) => {
        if (this.#settle !== undefined) this.#fail(new HelperError(`The layer unpack worker exited with code ${code} before it finished`, { stage: 'unpack-worker' }));
      },
    };
    this.#worker.on('message', this.#listeners.message);
    this.#worker.on('error', this.#listeners.error);
    this.#worker.on('exit', this.#listeners.exit);
    const job: ToWorker = { type: 'job', job: data };
    this.#worker.postMessage(job);
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
      this.#succeeded = true;
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
    // The worker must own what it gets. A chunk that is the whole of its ArrayBuffer (what
    // sockets hand out for large reads) moves without a copy: the stages before this one
    // (hashing, the blob write) are done with it once it arrives here. Slices of a shared
    // pool are copied.
    const whole = chunk.byteOffset === 0 && chunk.byteLength === chunk.buffer.byteLength && chunk.buffer instanceof ArrayBuffer;
    const owned = whole ? chunk.buffer : new Uint8Array(chunk).buffer;
    this.#inFlight += owned.byteLength;
    const message: ToWorker = { type: 'data', chunk: owned };
    this.#worker.postMessage(message, [owned]);
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

  /**
   * Gives the worker back to the pool if it finished its layer; otherwise stops it and
   * waits until it has exited (no more writes to disk).
   */
  async close(): Promise<void> {
    this.#worker.off('message', this.#listeners.message);
    this.#worker.off('error', this.#listeners.error);
    this.#worker.off('exit', this.#listeners.exit);
    if (this.#succeeded) {
      this.#succeeded = false;
      this.#pool.release(this.#worker);
      return;
    }
    // Resolves once the thread has stopped (its 'exit'), also if it had already exited.
    await this.#worker.terminate();
  }
}
