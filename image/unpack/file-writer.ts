/**
 * Regular file contents. Data is written as it streams, never gathered in memory: a file
 * of a chunk or two gets one write(2) per chunk; a larger one is piped through
 * stream/promises.pipeline into an fs.WriteStream, which batches queued chunks into large
 * writev(2) calls off the main thread. Metadata follows through the same descriptor
 * (metadata.ts), so a path swapped in meanwhile cannot redirect it.
 */
import { once } from 'node:events';
import { closeSync, createWriteStream, writeSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { InvalidContentError } from '../../common/errors.js';
import type { LayerEntry } from './entry.js';
import { applyFileMetadata, type MetadataPolicy } from './metadata.js';
import { printable } from './safe-path.js';

/** An entry's data: tar-stream's entry stream (a streamx Readable). */
export interface EntryData extends AsyncIterable<unknown> {
  /** streamx: true once destroy() has started. */
  readonly destroying: boolean;
  resume(): unknown;
}

/** Files up to this size are written synchronously, chunk by chunk (see metadata.ts). */
const syncWriteMax = 256 * 1024;
const writeHighWaterMark = 1024 * 1024;

/**
 * Writes `data` into `fd`, just created at `host` for `entry`, applies the entry's
 * metadata and closes `fd`, which this function owns from the call on.
 */
export async function writeFileEntry(fd: number, host: string, entry: LayerEntry, data: EntryData, policy: MetadataPolicy): Promise<void> {
  let owned = true;
  try {
    if (entry.size > 0) await writeData(fd, host, entry, data, () => (owned = false));
    applyFileMetadata(fd, host, entry, policy);
  } finally {
    // Closing a number that is no longer ours would close whatever reused it.
    if (owned) closeSync(fd);
  }
}

/** `disown` is called when something else has closed `fd`. */
async function writeData(fd: number, host: string, entry: LayerEntry, data: EntryData, disown: () => void): Promise<void> {
  // The tar stream may have failed while the file was being created: node's pipeline would
  // wait forever on a streamx stream that is already destroyed. The caller reports the
  // stream's own error.
  if (data.destroying) throw new InvalidContentError(`Cannot unpack layer: the tar stream failed inside entry "${printable(entry.name)}"`);
  if (entry.size > syncWriteMax) {
    const stream = createWriteStream(host, { fd, autoClose: false, highWaterMark: writeHighWaterMark });
    try {
      await pipeline(data, stream);
    } finally {
      // When the source fails, Node's WriteStream is destroyed and closes its fd even with
      // autoClose: false; with a write still in flight it closes it only once that write is
      // done, after pipeline has rejected. Wait for that close: until then the number is
      // neither ours to close nor safe to hand out again.
      if (stream.destroyed && !stream.closed) await once(stream, 'close').catch(() => undefined);
      if ((stream as unknown as { fd: number | null }).fd === null) disown();
    }
    return;
  }
  for await (const chunk of data) {
    if (!(chunk instanceof Uint8Array)) throw new InvalidContentError('Cannot unpack layer: the tar stream gave a chunk that is not bytes');
    for (let offset = 0; offset < chunk.byteLength; ) offset += writeSync(fd, chunk, offset);
  }
}
