/**
 * Reads a tree of files as copy entries, depth first, names in byte order (the order of
 * docker's filepath.Walk). Nothing is followed: every object is opened O_PATH |
 * O_NOFOLLOW relative to its parent's descriptor and described from fstat(2) of that
 * descriptor, a symlink is read as a symlink, and a regular file's data is read by
 * reopening that same descriptor through /proc/self/fd, so a name swapped meanwhile can
 * neither redirect the read nor make berth open a device. Races left: a symlink's target
 * is read by name (readlink(2) on `dirfd/name`), so a symlink swapped for another between
 * the open and the read gives the other's target; a file that shrinks while read is padded
 * with zeros to the size its header announced, and one that grows is cut there. Objects
 * that vanish while the tree is read are skipped, as docker's archiver skips them.
 */
import { constants, type Stats } from 'node:fs';
import { open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { isErrnoError } from '../../common/errors.js';
import type { CopyEntry, EntryType } from './entry.js';
import { O_PATH, at, childPath, fdPath, pseudoFileSystem, utf8Name, type DirRef } from './rooted-tree.js';

const readChunk = 256 * 1024;

/**
 * The entries of `name` in `dir` (of `dir` itself when `name` is ''), named `archiveName`
 * and `archiveName/...`. Hard links within the tree become 'link' entries to the first
 * name seen. Directories on pseudo file systems (proc, sysfs, cgroup, ...) are given
 * without their contents.
 */
export async function* readTree(dir: DirRef, name: string, archiveName: string): AsyncGenerator<CopyEntry> {
  const reader = new TreeReader();
  if (name === '') {
    yield* reader.readDirectory(dir, await dir.handle.stat(), archiveName, undefined);
    return;
  }
  yield* reader.readChild(dir, name, archiveName, undefined);
}

class TreeReader {
  /** First archive name of each multiply linked inode ("dev:ino"). */
  readonly #links = new Map<string, string>();

  /** The entries of child `name` of `parent`. */
  async *readChild(parent: DirRef, name: string, archiveName: string, parentDev: number | undefined): AsyncGenerator<CopyEntry> {
    let handle: FileHandle;
    try {
      handle = await open(at(parent, name), O_PATH | constants.O_NOFOLLOW);
    } catch (err) {
      if (isErrnoError(err, 'ENOENT')) return;
      throw err;
    }
    try {
      const stats = await handle.stat();
      if (stats.isDirectory()) {
        yield* this.readDirectory({ handle, path: childPath(parent.path, name), dev: stats.dev }, stats, archiveName, parentDev);
        return;
      }
      const entry = await this.#describe(parent, name, handle, stats, archiveName);
      if (entry !== undefined) yield entry;
    } finally {
      await handle.close();
    }
  }

  /** A directory's entry, then its children's. */
  async *readDirectory(dir: DirRef, stats: Stats, archiveName: string, parentDev: number | undefined): AsyncGenerator<CopyEntry> {
    yield entryFor(archiveName, 'directory', stats);
    // Only a mount point can change the file system: statfs(2) there, not in every directory.
    if (stats.dev !== parentDev && (await pseudoFileSystem(dir)) !== undefined) return;
    let names: Buffer[];
    try {
      names = await readdir(at(dir), { encoding: 'buffer' });
    } catch (err) {
      if (isErrnoError(err, 'ENOENT')) return;
      throw err;
    }
    names.sort(Buffer.compare);
    for (const raw of names) {
      const name = utf8Name(raw, childPath(dir.path, raw.toString('utf8')));
      yield* this.readChild(dir, name, `${archiveName}/${name}`, stats.dev);
    }
  }

  /** The entry of a non-directory opened as `handle`, or undefined for a socket or one that vanished. */
  async #describe(parent: DirRef, name: string, handle: FileHandle, stats: Stats, archiveName: string): Promise<CopyEntry | undefined> {
    if (stats.isSocket()) return undefined;
    if (!stats.isSymbolicLink() && stats.nlink > 1) {
      const key = `${stats.dev}:${stats.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) return { ...entryFor(archiveName, 'link', stats), linkname: first };
      this.#links.set(key, archiveName);
    }
    if (stats.isFile()) return { ...entryFor(archiveName, 'file', stats), size: stats.size, data: fileData(handle, stats.size) };
    if (stats.isSymbolicLink()) {
      let raw: Buffer;
      try {
        raw = await readlink(at(parent, name), { encoding: 'buffer' });
      } catch (err) {
        // Replaced by something else since it was opened: it is skipped like a vanished file.
        if (isErrnoError(err, 'EINVAL') || isErrnoError(err, 'ENOENT')) return undefined;
        throw err;
      }
      return { ...entryFor(archiveName, 'symlink', stats), linkname: utf8Name(raw, childPath(parent.path, name)) };
    }
    const type: EntryType = stats.isFIFO() ? 'fifo' : stats.isCharacterDevice() ? 'character-device' : 'block-device';
    return { ...entryFor(archiveName, type, stats), devmajor: major(stats.rdev), devminor: minor(stats.rdev) };
  }
}

function entryFor(name: string, type: EntryType, stats: Stats): CopyEntry {
  return {
    name, type, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, size: 0, mtime: stats.mtime,
    linkname: '', devmajor: 0, devminor: 0, data: undefined,
  };
}

/**
 * Exactly `size` bytes of the regular file `handle` (O_PATH) names, read through a second
 * descriptor opened on the same inode; the caller keeps `handle` open while reading.
 */
async function* fileData(handle: FileHandle, size: number): AsyncGenerator<Uint8Array> {
  if (size === 0) return;
  // Reopening the magic link opens the inode `handle` holds, whatever its name is now.
  const file = await open(fdPath(handle), constants.O_RDONLY | constants.O_NOCTTY | constants.O_NONBLOCK);
  try {
    let remaining = size;
    while (remaining > 0) {
      // A fresh buffer per chunk: consumers (tar-stream) keep the chunks they are given.
      const buffer = Buffer.allocUnsafe(Math.min(readChunk, remaining));
      const { bytesRead } = await file.read(buffer, 0, buffer.length, size - remaining);
      if (bytesRead === 0) {
        yield Buffer.alloc(remaining);
        return;
      }
      remaining -= bytesRead;
      yield buffer.subarray(0, bytesRead);
    }
  } finally {
    await file.close();
  }
}

/** major(3) of a dev_t as glibc encodes it (sys/sysmacros.h). */
export function major(dev: number): number {
  const d = BigInt(dev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

/** minor(3) of a dev_t as glibc encodes it (sys/sysmacros.h). */
export function minor(dev: number): number {
  const d = BigInt(dev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}
