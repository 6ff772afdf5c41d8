/**
 * Writes copy entries into a directory of a {@link RootedTree}, as docker's untar does
 * for `docker cp` (NoOverwriteDirNonDir; missing parents made 0755; directory times set
 * last), but without ever following a symlink out of the tree: each entry's parent is
 * resolved inside the tree (a symlink an entry or the container placed is followed as if
 * the tree were "/"), and the last component is created relative to the parent's
 * descriptor by calls that do not follow it (open O_CREAT|O_EXCL|O_NOFOLLOW, mkdir,
 * symlink, mknod, link). An existing non-directory is unlinked first, never opened.
 *
 * Race-free: where data goes. A regular file's data, owner, mode and times go through the
 * descriptor O_EXCL returned. Other objects are reopened O_PATH|O_NOFOLLOW right after they
 * are made and their owner, mode and times set through that descriptor (fdPath).
 * Not race-free: between mkdir/symlink/mknod and that reopen, a process in the container
 * that can write to the parent directory can rename another object of the same type
 * into place, and the metadata would then go to it. The reopened object must be owned by
 * berth's user and (unless a directory) have one link, so only an object that user (root)
 * made can be substituted. Directory times are set at the end by name, resolved again
 * inside the tree: a directory swapped meanwhile gets the times instead.
 */
import { constants, type Stats } from 'node:fs';
import { chmod, chown, link, mkdir, open, symlink, unlink, utimes, type FileHandle } from 'node:fs/promises';
import { FailedPreconditionError, InvalidArgumentError, InvalidContentError, isErrnoError } from '../../common/errors.js';
import { loadFsx, type Fsx } from '../../common/sys/index.js';
import { entryComponents, printable, type CopyEntry } from './entry.js';
import {
  O_PATH, at, childPath, errnoError, fdPath, lstatOrUndefined, pseudoFileSystem, type DirRef, type Lookup, type RootedTree,
} from './rooted-tree.js';

const { O_CREAT, O_DIRECTORY, O_EXCL, O_NOFOLLOW, O_WRONLY } = constants;
const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;

/** Who owns what is written: the entry's ids, fixed ids, or whoever berth runs as. */
export type OwnerPolicy = 'keep' | 'none' | { readonly uid: number; readonly gid: number };

/** Options of {@link TreeWriter}. */
export interface TreeWriterOptions {
  readonly owner: OwnerPolicy;
  /**
   * The entries come from a container and go to the host, written as root: device nodes
   * are skipped and setuid/setgid bits dropped, so a container cannot plant a root-owned
   * setuid binary or a raw disk device on the host (docker's CLI runs as the user and
   * cannot make those either).
   */
  readonly toHost: boolean;
}

/**
 * Lifecycle: create with an open base directory (a lookup whose `name` is ''), call
 * {@link write} for each entry in archive order, then {@link finish}, or {@link close} on
 * failure. The base lookup stays the caller's and must stay open until then.
 */
export class TreeWriter {
  readonly #tree: RootedTree;
  readonly #base: Lookup;
  readonly #options: TreeWriterOptions;
  readonly #euid = process.geteuid?.() ?? 0;
  /** The parent directory of the last entry, kept open for its siblings. */
  #parent: { key: string; lookup: Lookup } | undefined;
  readonly #dirTimes: { key: string; mtime: Date }[] = [];
  readonly #realFileSystems = new Set<number>();
  #fsx: Fsx | undefined;

  constructor(tree: RootedTree, base: Lookup, options: TreeWriterOptions) {
    if (base.name !== '') throw new InvalidArgumentError('A copy is written into a directory: the lookup must end inside it');
    this.#tree = tree;
    this.#base = base;
    this.#options = options;
  }

  /** Writes one entry; a file's data is read from `entry.data`. */
  async write(entry: CopyEntry): Promise<void> {
    const parts = entryComponents(entry.name);
    const name = parts.pop();
    // The extraction directory itself ("./"): kept as it is, as docker's untar skips ".".
    if (name === undefined) return;
    if (this.#options.toHost && (entry.type === 'character-device' || entry.type === 'block-device')) return;
    const key = parts.join('/');
    const dir = await this.#parentDir(key);
    const path = childPath(dir.path, name);
    const existing = await lstatOrUndefined(at(dir, name));
    if (existing?.isDirectory() === true) {
      if (entry.type !== 'directory') throw new InvalidArgumentError(`Cannot overwrite directory "${printable(path)}" with a non-directory`);
      await this.#settle(dir, name, entry, false);
      this.#dirTimes.push({ key: key === '' ? name : `${key}/${name}`, mtime: entry.mtime });
      return;
    }
    if (existing !== undefined) {
      if (entry.type === 'directory') throw new InvalidArgumentError(`Cannot overwrite non-directory "${printable(path)}" with a directory`);
      await unlinkIfPresent(at(dir, name));
    }
    await this.#create(dir, name, entry, path);
    if (entry.type === 'directory') this.#dirTimes.push({ key: key === '' ? name : `${key}/${name}`, mtime: entry.mtime });
  }

  /** Sets the directories' times (their contents are written) and releases the descriptors. */
  async finish(): Promise<void> {
    await this.close();
    for (const { key, mtime } of this.#dirTimes) {
      const found = await this.#tree.lookup(key, { followLast: false, from: this.#base });
      try {
        const handle = await open(at(found.dir, found.name), O_PATH | O_NOFOLLOW | O_DIRECTORY);
        try {
          await utimes(fdPath(handle), mtime, mtime);
        } finally {
          await handle.close();
        }
      } finally {
        await found.close();
      }
    }
  }

  /** Releases the descriptors without finishing. */
  async close(): Promise<void> {
    const parent = this.#parent;
    this.#parent = undefined;
    await parent?.lookup.close();
  }

  async #create(dir: DirRef, name: string, entry: CopyEntry, path: string): Promise<void> {
    const target = at(dir, name);
    try {
      switch (entry.type) {
        case 'file':
          await this.#writeFile(target, entry, path);
          return;
        case 'directory':
          // mkdir(2) fails with EEXIST on whatever appeared meanwhile, a symlink included.
          await mkdir(target, 0o700);
          break;
        case 'symlink':
          await symlink(entry.linkname, target);
          break;
        case 'link':
          await this.#link(target, entry, path);
          return;
        default: {
          const type = entry.type === 'fifo' ? S_IFIFO : entry.type === 'block-device' ? S_IFBLK : S_IFCHR;
          this.#fsx ??= loadFsx();
          this.#fsx.mknod(target, type | 0o600, entry.devmajor, entry.devminor);
        }
      }
    } catch (err) {
      if (isErrnoError(err, 'EEXIST')) throw changed(path, err);
      throw err;
    }
    await this.#settle(dir, name, entry, true);
  }

  async #writeFile(target: string, entry: CopyEntry, path: string): Promise<void> {
    const handle = await open(target, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600);
    try {
      await writeData(handle, entry, path);
      const owner = this.#ownerOf(entry);
      if (owner !== undefined) await handle.chown(owner.uid, owner.gid);
      // After chown, which clears setuid and setgid.
      await handle.chmod(this.#modeOf(entry));
      await handle.utimes(entry.mtime, entry.mtime);
    } finally {
      await handle.close();
    }
  }

  /** A hard link to an entry already written under the extraction directory. */
  async #link(target: string, entry: CopyEntry, path: string): Promise<void> {
    const missing = (cause?: unknown): InvalidContentError => new InvalidContentError(
      `Cannot create hard link "${printable(path)}": its target "${printable(entry.linkname)}" is missing or a directory`, { cause },
    );
    const found = await this.#tree.lookup(entryComponents(entry.linkname).join('/'), { followLast: false, from: this.#base }).catch((err: unknown) => {
      throw isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ENOTDIR') ? missing(err) : err;
    });
    try {
      if (found.stats === undefined || found.stats.isDirectory()) throw missing();
      // link(2) does not follow a symlink in its first argument.
      await link(at(found.dir, found.name), target);
    } finally {
      await found.close();
    }
  }

  /** Owner and mode (and times, but a directory's wait for finish()) of what is at `name`, set through its own descriptor. */
  async #settle(dir: DirRef, name: string, entry: CopyEntry, created: boolean): Promise<void> {
    const path = childPath(dir.path, name);
    const handle = await open(at(dir, name), O_PATH | O_NOFOLLOW | (entry.type === 'directory' ? O_DIRECTORY : 0)).catch((err: unknown) => {
      throw isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ELOOP') || isErrnoError(err, 'ENOTDIR') ? changed(path, err) : err;
    });
    try {
      const stats = await handle.stat();
      if (!hasType(stats, entry) || (created && !this.#isFresh(stats, entry))) throw changed(path, undefined);
      const self = fdPath(handle);
      const owner = this.#ownerOf(entry);
      if (owner !== undefined) await chown(self, owner.uid, owner.gid);
      if (entry.type !== 'symlink') await chmod(self, this.#modeOf(entry));
      if (entry.type !== 'directory') await utimes(self, entry.mtime, entry.mtime);
    } finally {
      await handle.close();
    }
  }

  /** Made by this writer a moment ago: owned by berth's user, and not another name for an older file. */
  #isFresh(stats: Stats, entry: CopyEntry): boolean {
    return stats.uid === this.#euid && (entry.type === 'directory' || stats.nlink === 1);
  }

  #ownerOf(entry: CopyEntry): { uid: number; gid: number } | undefined {
    const owner = this.#options.owner;
    if (owner === 'none') return undefined;
    return owner === 'keep' ? { uid: entry.uid, gid: entry.gid } : owner;
  }

  #modeOf(entry: CopyEntry): number {
    return this.#options.toHost && entry.type === 'file' ? entry.mode & 0o1777 : entry.mode & 0o7777;
  }

  /** The open directory that holds the entries of `key` (base-relative), made if missing. */
  async #parentDir(key: string): Promise<DirRef> {
    const last = this.#parent;
    if (last?.key === key) return last.lookup.dir;
    // Forget it before anything can fail: its descriptors may be closed or adopted below.
    this.#parent = undefined;
    let lookup: Lookup;
    const options = { followLast: true, wantDir: true, create: true } as const;
    if (last !== undefined && (last.key === '' || key.startsWith(`${last.key}/`))) {
      const rest = last.key === '' ? key : key.slice(last.key.length + 1);
      lookup = await this.#tree.lookup(rest, { ...options, from: last.lookup, adopt: true });
    } else {
      await last?.lookup.close();
      lookup = await this.#tree.lookup(key, { ...options, from: this.#base });
    }
    this.#parent = { key, lookup };
    await this.#checkWritable(lookup.dir);
    return lookup.dir;
  }

  /** Refuses to write into proc, sysfs, cgroupfs and the like: they are live kernel state. */
  async #checkWritable(dir: DirRef): Promise<void> {
    if (this.#realFileSystems.has(dir.dev)) return;
    const pseudo = await pseudoFileSystem(dir);
    if (pseudo !== undefined) {
      throw new FailedPreconditionError(`Cannot copy into "${printable(dir.path)}": it is on the ${pseudo} pseudo file system`, {
        hint: 'Copy to a directory of the container\'s own file system or of a volume',
      });
    }
    this.#realFileSystems.add(dir.dev);
  }
}

function hasType(stats: Stats, entry: CopyEntry): boolean {
  switch (entry.type) {
    case 'directory': return stats.isDirectory();
    case 'symlink': return stats.isSymbolicLink();
    case 'fifo': return stats.isFIFO();
    case 'character-device': return stats.isCharacterDevice();
    case 'block-device': return stats.isBlockDevice();
    default: return stats.isFile();
  }
}

/** Writes exactly `entry.size` bytes of `entry.data` into `handle`. */
async function writeData(handle: FileHandle, entry: CopyEntry, path: string): Promise<void> {
  let written = 0;
  if (entry.data !== undefined) {
    for await (const chunk of entry.data) {
      for (let offset = 0; offset < chunk.byteLength;) {
        const { bytesWritten } = await handle.write(chunk, offset, chunk.byteLength - offset);
        offset += bytesWritten;
      }
      written += chunk.byteLength;
    }
  }
  if (written !== entry.size) {
    throw new InvalidContentError(`Cannot write "${printable(path)}": ${written} bytes of data came for a file of ${entry.size}`);
  }
}

async function unlinkIfPresent(path: string): Promise<void> {
  try {
    await unlink(path);
  } catch (err) {
    if (!isErrnoError(err, 'ENOENT')) throw err;
  }
}

/** Something at `path` changed while berth was writing it: a process in the container raced the copy. */
function changed(path: string, cause: unknown): Error {
  return new FailedPreconditionError(`Cannot copy to "${printable(path)}": it changed while being written`, {
    hint: 'Something in the container is modifying that directory; retry when it is idle',
    cause: cause ?? errnoError('ESTALE', 'changed while being written', path),
  });
}
