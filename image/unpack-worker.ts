/**
 * Entry point of an unpack worker thread (bundled as dist/unpack-worker.mjs): receives a
 * layer's compressed bytes from worker-sink.ts (which defines the protocol), decompresses,
 * hashes and unpacks them with the synchronous unpacker, and reports the diffID.
 */
import { Readable } from 'node:stream';
import { parentPort, workerData } from 'node:worker_threads';
import { serializeError } from '../common/errors.js';
import { unpackInThisThread } from './layer-unpacker.js';
import type { FromWorker, ToWorker, UnpackWorkerData } from './worker-sink.js';

function parseWorkerData(data: unknown): UnpackWorkerData {
  if (data === null || typeof data !== 'object') throw new TypeError('unpack worker started without its data');
  const d = data as Record<string, unknown>;
  const compression = d['compression'];
  if (typeof d['dir'] !== 'string' || (compression !== 'gzip' && compression !== 'zstd' && compression !== 'none') ||
    typeof d['privileged'] !== 'boolean' || typeof d['limits'] !== 'object' || d['limits'] === null) {
    throw new TypeError('unpack worker started with malformed data');
  }
  return data as UnpackWorkerData;
}

/** The chunks the main thread sends, in order, acknowledged as they are consumed. */
async function* chunks(port: NonNullable<typeof parentPort>): AsyncGenerator<Uint8Array> {
  const queue: ToWorker[] = [];
  let wake: (() => void) | undefined;
  port.on('message', (message: ToWorker) => {
    queue.push(message);
    wake?.();
  });
  for (;;) {
    const message = queue.shift();
    if (message === undefined) {
      await new Promise<void>((resolve) => (wake = resolve));
      wake = undefined;
      continue;
    }
    if (message.type === 'end') return;
    yield new Uint8Array(message.chunk);
    const ack: FromWorker = { type: 'ack', bytes: message.chunk.byteLength };
    port.postMessage(ack);
  }
}

async function run(port: NonNullable<typeof parentPort>): Promise<void> {
  try {
    const data = parseWorkerData(workerData);
    // The main thread stops a worker by terminating it, so nothing here aborts.
    const source = Readable.from(chunks(port), { objectMode: false });
    const outcome = await unpackInThisThread(source, [], { ...data, signal: new AbortController().signal });
    const done: FromWorker = { type: 'done', diffId: outcome.diffId, bytes: outcome.bytes };
    port.postMessage(done);
  } catch (err) {
    const failed: FromWorker = { type: 'error', error: serializeError(err) };
    port.postMessage(failed);
  } finally {
    port.close();
  }
}

// No top-level await: Node 20 aborts the whole process (V8 "Check failed: location_")
// when a worker is terminated while its entry module is still being evaluated, which is
// what happens to the other layers' workers when one layer fails. run() reports its own
// errors, so nothing is left unhandled.
if (parentPort !== null) void run(parentPort);
