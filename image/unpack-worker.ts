/**
 * Entry point of an unpack worker thread (bundled as dist/unpack-worker.mjs). A worker
 * serves one layer at a time, as many layers as the main thread gives it: worker-sink.ts
 * defines the protocol. Reusing a worker saves its start-up and, more, lets the unpacker's
 * hot code stay optimised by V8 instead of being compiled again in every new isolate.
 */
import { Readable } from 'node:stream';
import { parentPort } from 'node:worker_threads';
import { serializeError } from '../common/errors.js';
import { unpackInThisThread } from './layer-unpacker.js';
import type { FromWorker, ToWorker, UnpackWorkerData } from './worker-sink.js';

function parseJob(data: unknown): UnpackWorkerData {
  if (data === null || typeof data !== 'object') throw new TypeError('unpack worker was given a job without its data');
  const d = data as Record<string, unknown>;
  const compression = d['compression'];
  if (typeof d['dir'] !== 'string' || (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') ||
    typeof d['privileged'] !== 'boolean' || typeof d['limits'] !== 'object' || d['limits'] === null) {
    throw new TypeError('unpack worker was given a malformed job');
  }
  return data as UnpackWorkerData;
}

/** The main thread's messages, in order. */
class Inbox {
  readonly #queue: ToWorker[] = [];
  #wake: (() => void) | undefined;

  constructor(port: NonNullable<typeof parentPort>) {
    port.on('message', (message: ToWorker) => {
      this.#queue.push(message);
      this.#wake?.();
    });
  }

  async next(): Promise<ToWorker> {
    for (;;) {
      const message = this.#queue.shift();
      if (message !== undefined) return message;
      await new Promise<void>((resolve) => (this.#wake = resolve));
      this.#wake = undefined;
    }
  }
}

/** One layer's chunks, up to its `end`, acknowledged as they are consumed. */
async function* chunks(inbox: Inbox, port: NonNullable<typeof parentPort>): AsyncGenerator<Uint8Array> {
  for (;;) {
    const message = await inbox.next();
    if (message.type === 'end') return;
    if (message.type !== 'data') throw new TypeError(`unpack worker got "${message.type}" in the middle of a layer`);
    yield new Uint8Array(message.chunk);
    const ack: FromWorker = { type: 'ack', bytes: message.chunk.byteLength };
    port.postMessage(ack);
  }
}

async function serve(port: NonNullable<typeof parentPort>): Promise<void> {
  const inbox = new Inbox(port);
  for (;;) {
    const message = await inbox.next();
    try {
      if (message.type !== 'job') throw new TypeError(`unpack worker got "${message.type}" before a job`);
      const job = parseJob(message.job);
      // The main thread stops a job by terminating its worker, so nothing here aborts.
      const source = Readable.from(chunks(inbox, port), { objectMode: false });
      const outcome = await unpackInThisThread(source, [], { ...job, signal: new AbortController().signal });
      const done: FromWorker = { type: 'done', diffId: outcome.diffId, bytes: outcome.bytes };
      port.postMessage(done);
    } catch (err) {
      // A failed job may leave unread chunks behind: this worker is not reused, the main
      // thread terminates it.
      const failed: FromWorker = { type: 'error', error: serializeError(err) };
      port.postMessage(failed);
      port.close();
      return;
    }
  }
}

// No top-level await: Node 20 aborts the whole process (V8 "Check failed: location_")
// when a worker is terminated while its entry module is still being evaluated, which is
// what happens to the other layers' workers when one layer fails. serve() reports its own
// errors, so nothing is left unhandled.
if (parentPort !== null) void serve(parentPort);
