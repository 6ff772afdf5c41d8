/**
 * The content store: verified blobs and unpacked layers under a {@link StateLayout}.
 *
 * Invariants (DESIGN.md "State"):
 * - A blob at `blobPath(d)` is whole and hashes to `d`: it is written to a staging file,
 *   verified (size and digest) while streaming, fsynced, renamed into place, and the
 *   directory fsynced.
 * - A layer directory at `layerDir(diffID)` is complete: layers are unpacked into a staging
 *   directory and renamed into place only after the whole tar was unpacked and its diffID
 *   verified. Removal renames the directory back to staging first, so a half-removed layer
 *   is never visible either.
 * - Staging entries carry their owner's pid; {@link ContentStore.recover} removes those of
 *   processes that are gone. Several processes may stage the same content at once: the
 *   first rename wins and the others discard their copy.
 */
import { constants, type Dirent } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Transform, type TransformCallback } from 'node:stream';
import { DigestCounter, sha256Of } from '../common/digests.js';
import { InvalidContentError, isErrnoError } from '../common/errors.js';
import { makeDirectory } from '../common/fs.js';
import { loadFsx } from '../common/sys/fsx.js';
import { tmpEntryOwner, type StateLayout } from '../common/paths.js';
import { isProcessAlive } from '../common/process.js';
import { isDigest, type Digest } from '../oci/index.js';

/** A blob being written; finish with {@link BlobIngest.commit} or {@link BlobIngest.abort}. */
export interface BlobIngest {
  /** Pipe the blob's bytes through these, in order: they verify, write and pass the bytes on. */
  readonly streams: readonly [DigestCounter, Transform];
  /** Verifies size and digest, then makes the blob visible. */
  commit(): Promise<void>;
  /** Discards the staging file. Safe to call after a failed commit. */
  abort(): Promise<void>;
}

/**
 * A blob whose digest is known only once its last byte is written (a layer berth makes
 * itself); finish with {@link BlobWriter.commit} or {@link BlobWriter.abort}.
 */
export interface BlobWriter {
  /** Pipe the blob's bytes through these, in order: they hash, write and pass the bytes on. */
  readonly streams: readonly [DigestCounter, Transform];
  /** Makes the blob visible under the digest of what was written, and returns it. */
  commit(): Promise<{ digest: Digest; size: number }>;
  /** Discards the staging file. Safe to call after a failed commit. */
  abort(): Promise<void>;
}

/** A layer being unpacked into {@link LayerStaging.dir}. */
export interface LayerStaging {
  /** The empty directory to unpack into. */
  readonly dir: string;
  /** Makes the layer visible as `diffId`; if another process was first, keeps theirs. */
  commit(diffId: Digest): Promise<void>;
  /** Removes the staging directory. */
  abort(): Promise<void>;
}

/** Blobs and layers of one store. */
export class ContentStore {
  readonly #layout: StateLayout;

  constructor(layout: StateLayout) {
    this.#layout = layout;
  }

  /** Creates the store's directories. */
  async init(): Promise<void> {
    await makeDirectory(this.#layout.blobDir('sha256'), 0o700);
    await makeDirectory(this.#layout.layersDir(), 0o700);
    await makeDirectory(this.#layout.tmpDir(), 0o700);
    // Layers are staged in tmp/ and renamed into layers/: each is a tree of its own. On
    // ext4 this makes every new layer directory start in a block group with free inodes,
    // not in the one its predecessors (maybe just deleted) filled: ext4 scans past
    // recently deleted inodes one by one, which made pulls after a prune 2-3x slower.
    const fsx = loadFsx();
    fsx.markTopDir(this.#layout.tmpDir());
    fsx.markTopDir(this.#layout.layersDir());
  }

  /** True when the blob is present (and therefore whole and verified). */
  async hasBlob(digest: Digest): Promise<boolean> {
    return exists(this.#layout.blobPath(digest));
  }

  /** Path of a present blob. */
  blobPath(digest: Digest): string {
    return this.#layout.blobPath(digest);
  }

  /** Reads a small present blob (a manifest or config) whole. */
  async readBlob(digest: Digest): Promise<Buffer> {
    return readFile(this.#layout.blobPath(digest));
  }

  /** Stores a small document already held in memory, after checking its digest. */
  async writeBlob(digest: Digest, data: Buffer): Promise<void> {
    const actual = sha256Of(data);
    if (actual !== digest) throw new InvalidContentError(`Cannot store blob "${digest}": its content hashes to "${actual}"`);
    if (await this.hasBlob(digest)) return;
    const tmp = this.#layout.newTmpPath('blob');
    const fh = await open(tmp, 'wx', 0o600);
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await this.#publishBlob(tmp, digest);
  }

  /**
   * Starts writing a streamed blob of `options.size` bytes that must hash to `digest`;
   * `options.what` names it in errors.
   */
  async ingest(digest: Digest, options: { size: number | undefined; what: string; onBytes?: ((n: number) => void) | undefined }): Promise<BlobIngest> {
    const { size, what, onBytes } = options;
    const counter = new DigestCounter({ what, maxBytes: size, onBytes, algorithm: digest.slice(0, digest.indexOf(':')) });
    const staged = await this.#stage(counter);
    return {
      streams: staged.streams,
      commit: async () => {
        counter.verify({ digest, size });
        await staged.publish(digest);
      },
      abort: staged.abort,
    };
  }

  /**
   * Starts writing a streamed blob whose digest is computed as it is written; the same
   * staging, fsync and rename as {@link ingest}. `options.what` names it in errors.
   */
  async write(options: { what: string }): Promise<BlobWriter> {
    const counter = new DigestCounter({ what: options.what });
    const staged = await this.#stage(counter);
    return {
      streams: staged.streams,
      commit: async () => {
        const digest = counter.digest;
        if (digest === undefined) throw new InvalidContentError(`Cannot store ${options.what}: its stream did not end`);
        await staged.publish(digest);
        return { digest, size: counter.bytes };
      },
      abort: staged.abort,
    };
  }

  /**
   * A staging file for a streamed blob: the counter, then the file, as the streams to pipe
   * through; publish fsyncs, closes and renames it into place as `digest`; abort removes it.
   */
  async #stage(counter: DigestCounter): Promise<{ streams: [DigestCounter, FileTee]; publish: (digest: Digest) => Promise<void>; abort: () => Promise<void> }> {
    const tmp = this.#layout.newTmpPath('blob');
    const fh = await open(tmp, 'wx', 0o600);
    let closed = false;
    const close = async (): Promise<void> => {
      if (!closed) {
        closed = true;
        await fh.close();
      }
    };
    return {
      streams: [counter, new FileTee(fh)],
      publish: async (digest) => {
        await fh.sync();
        await close();
        await this.#publishBlob(tmp, digest);
      },
      abort: async () => {
        // The stream's own error is what the caller reports; a close that fails after it adds nothing.
        await close().catch(() => undefined);
        await rm(tmp, { force: true });
      },
    };
  }

  async #publishBlob(tmp: string, digest: Digest): Promise<void> {
    const target = this.#layout.blobPath(digest);
    await makeDirectory(dirname(target), 0o700);
    // rename(2) over an existing blob is fine: same digest, same bytes.
    await rename(tmp, target);
    await fsyncDir(dirname(target));
  }

  /** True when the layer with this diffID is unpacked. */
  async hasLayer(diffId: Digest): Promise<boolean> {
    return exists(this.#layout.layerDir(diffId));
  }

  /** The overlayfs lower directory of a present layer. */
  layerDiffDir(diffId: Digest): string {
    return this.#layout.layerDiffDir(diffId);
  }

  /** Creates an empty staging directory for unpacking a layer. */
  async stageLayer(): Promise<LayerStaging> {
    const top = this.#layout.newTmpPath('layer');
    const dir = join(top, 'diff');
    await mkdir(top, { mode: 0o700 });
    await mkdir(dir, { mode: 0o755 });
    return {
      dir,
      commit: async (diffId) => {
        const target = this.#layout.layerDir(diffId);
        try {
          await rename(top, target);
        } catch (err) {
          // Another process finished the same layer first: theirs is as good as ours.
          if (!isErrnoError(err, 'ENOTEMPTY') && !isErrnoError(err, 'EEXIST')) throw err;
          await rm(top, { recursive: true, force: true });
          return;
        }
        await fsyncDir(this.#layout.layersDir());
      },
      abort: async () => {
        await rm(top, { recursive: true, force: true });
      },
    };
  }

  /**
   * Moves a blob out of sight into staging and returns where it went (undefined when it was
   * absent); {@link discard} removes it. Two steps so that garbage collection can hide
   * content while holding the metadata lock and delete it afterwards.
   */
  async hideBlob(digest: Digest): Promise<{ path: string; bytes: number } | undefined> {
    return this.#hide(this.#layout.blobPath(digest));
  }

  /** Like {@link hideBlob}, for a layer directory. */
  async hideLayer(diffId: Digest): Promise<{ path: string; bytes: number } | undefined> {
    return this.#hide(this.#layout.layerDir(diffId));
  }

  async #hide(path: string): Promise<{ path: string; bytes: number } | undefined> {
    const tmp = this.#layout.newTmpPath('gone');
    let bytes = 0;
    try {
      const st = await stat(path);
      bytes = st.isFile() ? st.size : 0;
      await rename(path, tmp);
    } catch (err) {
      if (isErrnoError(err, 'ENOENT')) return undefined;
      throw err;
    }
    return { path: tmp, bytes };
  }

  /** Deletes what {@link hideBlob} or {@link hideLayer} moved away. */
  async discard(hiddenPath: string): Promise<void> {
    await rm(hiddenPath, { recursive: true, force: true });
  }

  /** Digests of every present blob. */
  async listBlobs(): Promise<Digest[]> {
    const out: Digest[] = [];
    for (const algorithm of await listNames(join(this.#layout.root, 'blobs'))) {
      for (const hex of await listNames(this.#layout.blobDir(algorithm))) {
        const digest = `${algorithm}:${hex}`;
        if (isDigest(digest)) out.push(digest);
      }
    }
    return out;
  }

  /** DiffIDs of every present layer. */
  async listLayers(): Promise<Digest[]> {
    return (await listNames(this.#layout.layersDir())).map((hex) => `sha256:${hex}`).filter(isDigest);
  }

  /**
   * Removes staging leftovers of processes that no longer run (a crash or kill -9 in the
   * middle of a pull). Work of live processes is left alone.
   */
  async recover(): Promise<number> {
    let removed = 0;
    let entries: Dirent[];
    try {
      entries = await readdir(this.#layout.tmpDir(), { withFileTypes: true });
    } catch (err) {
      if (isErrnoError(err, 'ENOENT')) return 0;
      throw err;
    }
    for (const entry of entries) {
      const owner = tmpEntryOwner(entry.name);
      if (owner !== undefined && isProcessAlive(owner)) continue;
      await rm(join(this.#layout.tmpDir(), entry.name), { recursive: true, force: true });
      removed++;
    }
    return removed;
  }
}

/** Writes every chunk to a file before passing it on. */
class FileTee extends Transform {
  readonly #fh: FileHandle;

  constructor(fh: FileHandle) {
    super({ highWaterMark: 1 << 20 });
    this.#fh = fh;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#fh.write(chunk).then(() => callback(null, chunk), (err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return false;
    throw err;
  }
}

async function listNames(dir: string): Promise<string[]> {
  try {
    return await readdir(dir);
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return [];
    throw err;
  }
}

async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}
