/**
 * Copy entries to and from tar streams (tar-stream), for `berth cp` with "-" as the
 * source or destination. Both directions stream: a file's data goes through in chunks
 * with backpressure, never gathered in memory.
 */
import { pipeline } from 'node:stream/promises';
import { extract, pack, type Extract, type Header, type Pack } from 'tar-stream';
import { BerthError, InvalidContentError } from '../../common/errors.js';
import type { CopyEntry, EntryType } from './entry.js';

/**
 * Writes `entries` to `out` as a tar archive (directory names end with "/", as docker's
 * do) and ends `out`, unless it is the process's standard output.
 */
export async function writeTar(entries: AsyncIterable<CopyEntry>, out: NodeJS.WritableStream): Promise<void> {
  const tar = pack();
  // Whichever side fails first has the error to report: the other one only sees the
  // stream it shares with it vanish.
  let failure: { error: unknown } | undefined;
  const fail = (err: unknown): never => {
    failure ??= { error: err };
    throw err;
  };
  const producing = produce(tar, entries).catch((err: unknown) => {
    // The pipeline then fails too instead of waiting for more entries.
    tar.destroy(err instanceof Error ? err : new Error(String(err)));
    return fail(err);
  });
  const piping = pipeline(tar, out, { end: out !== process.stdout }).catch(fail);
  await Promise.allSettled([producing, piping]);
  if (failure !== undefined) throw failure.error;
}

async function produce(tar: Pack, entries: AsyncIterable<CopyEntry>): Promise<void> {
  for await (const entry of entries) await addEntry(tar, entry);
  tar.finalize();
}

/** A tar-stream entry sink (a streamx Writable). */
type Sink = ReturnType<Pack['entry']>;

function addEntry(tar: Pack, entry: CopyEntry): Promise<void> {
  return new Promise((resolve, reject) => {
    const header: Partial<Header> & Pick<Header, 'name'> = {
      name: entry.type === 'directory' ? `${entry.name}/` : entry.name,
      type: entry.type,
      mode: entry.mode,
      uid: entry.uid,
      gid: entry.gid,
      size: entry.size,
      mtime: entry.mtime,
      linkname: entry.linkname,
      devmajor: entry.devmajor,
      devminor: entry.devminor,
    };
    const sink = tar.entry(header, (err) => (err === undefined || err === null ? resolve() : reject(err)));
    // When the archive fails (its reader went away: EPIPE), tar-stream destroys the entry
    // with that error, which reaches the callback above; without a listener the 'error'
    // event it also emits would crash the process.
    sink.on('error', () => undefined);
    if (entry.data === undefined || entry.size === 0) {
      sink.end(undefined);
      return;
    }
    pump(sink, entry.data).catch((err: unknown) => {
      sink.destroy(err instanceof Error ? err : new Error(String(err)));
      reject(err);
    });
  });
}

/** Writes `data` into a tar-stream entry sink, waiting for it to drain. */
async function pump(sink: Sink, data: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const chunk of data) {
    if (!sink.write(chunk)) await drained(sink);
  }
  sink.end(undefined);
}

function drained(sink: Sink): Promise<void> {
  if (sink.destroyed) return Promise.reject(new Error('The tar stream was closed'));
  return new Promise((resolve, reject) => {
    const done = (err?: Error): void => {
      sink.off('drain', onDrain);
      sink.off('close', onClose);
      if (err === undefined) resolve();
      else reject(err);
    };
    const onDrain = (): void => done();
    const onClose = (): void => done(new Error('The tar stream was closed'));
    sink.on('drain', onDrain);
    sink.on('close', onClose);
  });
}

/** An entry stream's chunks, which tar-stream gives as Buffers (typed unknown by streamx). */
async function* chunksOf(stream: AsyncIterable<unknown>): AsyncGenerator<Uint8Array> {
  try {
    for await (const chunk of stream) {
      if (!(chunk instanceof Uint8Array)) throw new TypeError('the tar stream gave a chunk that is not bytes');
      yield chunk;
    }
  } catch (err) {
    throw archiveError(err);
  }
}

/** A failure to read the archive (truncated, corrupt, or its source failed). */
function archiveError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  return new InvalidContentError(`Cannot read the tar archive: ${reason}`, { cause: err });
}

const entryTypes: Readonly<Record<string, EntryType>> = {
  'file': 'file',
  'contiguous-file': 'file',
  'directory': 'directory',
  'symlink': 'symlink',
  'link': 'link',
  'character-device': 'character-device',
  'block-device': 'block-device',
  'fifo': 'fifo',
};

/** One entry of an extractor: its header and data stream (tar-stream does not export the type). */
type Source = Extract extends AsyncIterable<infer S> ? S : never;

/** The extractor's entry streams; its errors (the archive's) as InvalidContentError. */
async function* guarded(extractor: Extract): AsyncGenerator<Source> {
  try {
    for await (const stream of extractor) yield stream;
  } catch (err) {
    throw archiveError(err);
  }
}

/**
 * The entries of the tar archive `input`, in order. Entry types a copy does not carry
 * (PAX and GNU extension headers are read by tar-stream itself) are skipped. Each entry's
 * data must be consumed before the next is asked for; what a consumer leaves is drained.
 */
export async function* readTar(input: NodeJS.ReadableStream): AsyncGenerator<CopyEntry> {
  const extractor = extract();
  const feeding = pipeline(input, extractor);
  // Awaited below on every path; this only keeps an early rejection from being "unhandled"
  // while the consumer holds an entry.
  feeding.catch(() => undefined);
  let complete = false;
  try {
    for await (const stream of guarded(extractor)) {
      const { header } = stream;
      const type = entryTypes[header.type ?? 'file'];
      if (type !== undefined) {
        yield {
          name: header.name,
          type,
          mode: (header.mode ?? 0o644) & 0o7777,
          uid: header.uid ?? 0,
          gid: header.gid ?? 0,
          size: type === 'file' ? header.size ?? 0 : 0,
          mtime: header.mtime ?? new Date(0),
          linkname: header.linkname ?? '',
          devmajor: header.devmajor ?? 0,
          devminor: header.devminor ?? 0,
          data: type === 'file' ? chunksOf(stream) : undefined,
        };
      }
      // What the consumer left (all of it for non-file entries) flows away: tar-stream goes
      // on to the next header only once the data is read.
      stream.resume();
    }
    complete = true;
  } finally {
    // Stopped early (the consumer failed or the archive is bad): the error that stopped it
    // is the one to report, and the feeding pipeline only fails as a consequence.
    if (!complete) extractor.destroy();
    const [fed] = await Promise.allSettled([feeding]);
    if (complete && fed.status === 'rejected') throw archiveError(fed.reason);
  }
}
