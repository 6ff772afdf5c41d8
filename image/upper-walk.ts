/**
 * Reads an overlayfs upper directory as the entries of an OCI layer (image-spec layer.md
 * "Change Types" and "Whiteouts"): depth first, names in byte order, so that the same tree
 * always gives the same entries. Overlay's own forms become the spec's (moby's
 * overlayWhiteoutConverter.ConvertWrite, overlayfs docs "whiteouts and opaque
 * directories"): a 0/0 character device becomes an empty `.wh.<name>` file, and a
 * directory with `overlay.opaque=y` is followed by `<dir>/.wh..wh..opq`. Nothing is
 * followed: every name is lstat'ed, and a regular file is opened O_NOFOLLOW and described
 * from fstat(2) of that descriptor.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open, readdir, readlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidContentError, UnsupportedError, isErrnoError, throwIfAborted } from '../common/errors.js';
import type { Fsx } from '../common/sys/index.js';
import type { TarHeaderFields } from './tar-header.js';

/** One layer entry and, for a regular file, the open file its data is read from. */
export interface UpperEntry {
  readonly header: TarHeaderFields;
  /** Open until the walk goes on to the next entry. */
  readonly file?: FileHandle | undefined;
}

/** How the upper directory is read. */
export interface UpperWalkOptions {
  /** Mtimes later than this (seconds since the epoch) are written as it. */
  readonly sourceDateEpoch?: number | undefined;
  /** Leaves out an entry (and a directory's contents); given the container path, "/etc/hosts". */
  readonly exclude?: ((path: string) => boolean) | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** The prefixes of overlayfs's own xattrs: root mounts, and `userxattr` (rootless) mounts. */
const overlayPrefixes = ['trusted.overlay.', 'user.overlay.'];
/**
 * Xattrs of the host, not of the content: the SELinux label the container's files got
 * from the host's policy (containers/storage leaves it out of layers too).
 */
const hostXattrs = new Set(['security.selinux']);
const opaqueMarker = '.wh..wh..opq';
const whiteoutPrefix = '.wh.';

/** A directory whose header waits until something under it is written (see {@link UpperWalker}). */
interface PendingDir {
  readonly header: TarHeaderFields;
  written: boolean;
  /** Something under it was excluded. */
  excluded: boolean;
}

/** What the xattrs of an inode say. */
interface XattrInfo {
  readonly xattrs: ReadonlyMap<string, Buffer>;
  readonly opaque: boolean;
}

/**
 * Walks one upper directory. A directory's header is written when something under it is,
 * or at its end; a directory that holds nothing but excluded entries is left out, as the
 * engine's diff leaves out directories changed only by berth's mount points.
 */
export class UpperWalker {
  readonly #root: string;
  readonly #fsx: Fsx;
  readonly #options: UpperWalkOptions;
  /** The archive name of each multiply linked inode seen ("dev:ino"). */
  readonly #links = new Map<string, string>();
  readonly #pending: PendingDir[] = [];

  constructor(root: string, fsx: Fsx, options: UpperWalkOptions) {
    this.#root = root;
    this.#fsx = fsx;
    this.#options = options;
  }

  /** The entries of the upper directory (its root itself is not one). */
  async *entries(): AsyncGenerator<UpperEntry> {
    yield* this.#children('');
  }

  /** The entries under directory `rel` ('' is the root, else "a/b"). */
  async *#children(rel: string): AsyncGenerator<UpperEntry> {
    for (const name of await readNames(join(this.#root, rel), rel)) {
      throwIfAborted(this.#options.signal, 'Committing the layer');
      const path = rel === '' ? name : `${rel}/${name}`;
      if (this.#options.exclude?.(`/${path}`) === true) {
        for (const dir of this.#pending) dir.excluded = true;
        continue;
      }
      const host = join(this.#root, path);
      let stats: Stats;
      try {
        stats = await lstat(host);
      } catch (err) {
        // Gone since readdir: there is nothing to write, as docker's walk skips it.
        if (isErrnoError(err, 'ENOENT')) continue;
        throw err;
      }
      if (stats.isDirectory()) yield* this.#directory(path, host, stats);
      else yield* this.#nonDirectory(rel, name, host, stats);
    }
  }

  async *#directory(path: string, host: string, stats: Stats): AsyncGenerator<UpperEntry> {
    const info = this.#xattrs(host, path);
    const header = headerOf(`${path}/`, 'directory', stats, info.xattrs, this.#options);
    const dir: PendingDir = { header, written: false, excluded: false };
    if (info.opaque) {
      yield* this.#write({ header });
      dir.written = true;
      // moby: the marker inherits the directory's permissions and owner, and is a plain file.
      yield { header: { ...header, name: `${path}/${opaqueMarker}`, type: 'file', mode: header.mode & 0o777, xattrs: new Map() } };
    }
    this.#pending.push(dir);
    try {
      yield* this.#children(path);
    } finally {
      this.#pending.pop();
    }
    if (dir.written) return;
    if (dir.excluded) {
      for (const parent of this.#pending) parent.excluded = true;
      return;
    }
    yield* this.#write({ header });
  }

  async *#nonDirectory(rel: string, name: string, host: string, stats: Stats): AsyncGenerator<UpperEntry> {
    const path = rel === '' ? name : `${rel}/${name}`;
    // Whiteouts first: overlayfs shares one whiteout inode among many names (Linux 5.8+),
    // which must not become hardlinks.
    if (isWhiteout(stats)) {
      const whiteout = rel === '' ? `${whiteoutPrefix}${name}` : `${rel}/${whiteoutPrefix}${name}`;
      yield* this.#write({ header: { ...headerOf(whiteout, 'file', stats, new Map(), this.#options), mode: 0o600 } });
      return;
    }
    // Sockets cannot be in a tar; docker's archiver skips them too.
    if (stats.isSocket()) return;
    const { xattrs } = this.#xattrs(host, path);
    if (!stats.isSymbolicLink() && stats.nlink > 1) {
      const key = `${stats.dev}:${stats.ino}`;
      const first = this.#links.get(key);
      if (first !== undefined) {
        yield* this.#write({ header: { ...headerOf(path, 'link', stats, xattrs, this.#options), linkname: first } });
        return;
      }
      this.#links.set(key, path);
    }
    if (stats.isFile()) {
      yield* this.#file(path, host, stats, xattrs);
    } else if (stats.isSymbolicLink()) {
      const target = await readlink(host, { encoding: 'buffer' });
      yield* this.#write({ header: { ...headerOf(path, 'symlink', stats, xattrs, this.#options), linkname: utf8(target, path) } });
    } else {
      const type = stats.isFIFO() ? 'fifo' : stats.isCharacterDevice() ? 'character-device' : 'block-device';
      const device = { devmajor: major(stats.rdev), devminor: minor(stats.rdev) };
      yield* this.#write({ header: { ...headerOf(path, type, stats, xattrs, this.#options), ...device } });
    }
  }

  /** A regular file, described from the descriptor its data is read through. */
  async *#file(path: string, host: string, stats: Stats, xattrs: ReadonlyMap<string, Buffer>): AsyncGenerator<UpperEntry> {
    const file = await open(host, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NOCTTY | constants.O_NONBLOCK);
    try {
      const opened = await file.stat();
      if (!opened.isFile() || opened.ino !== stats.ino || opened.dev !== stats.dev) {
        throw new InvalidContentError(`Cannot commit the layer: "/${path}" changed while it was read`, {
          hint: 'Stop or pause the container before committing it',
        });
      }
      yield* this.#write({ header: { ...headerOf(path, 'file', opened, xattrs, this.#options), size: opened.size }, file });
    } finally {
      await file.close();
    }
  }

  /** Writes the pending directories above an entry, then the entry. */
  async *#write(entry: UpperEntry): AsyncGenerator<UpperEntry> {
    for (const dir of this.#pending) {
      if (dir.written) continue;
      dir.written = true;
      yield { header: dir.header };
    }
    yield entry;
  }

  /**
   * The xattrs to write, in name order, and whether they mark an opaque directory.
   * overlayfs's own xattrs are not content and are left out; the ones that make an upper
   * directory depend on its lowers (redirect_dir, metacopy) cannot be committed.
   */
  #xattrs(host: string, path: string): XattrInfo {
    let names: string[];
    try {
      names = this.#fsx.llistxattr(host);
    } catch (err) {
      if (isErrnoError(err, 'ENOTSUP') || isErrnoError(err, 'EOPNOTSUPP')) return { xattrs: new Map(), opaque: false };
      throw err;
    }
    const xattrs = new Map<string, Buffer>();
    let opaque = false;
    for (const name of names.sort()) {
      const overlay = overlayPrefixes.find((prefix) => name.startsWith(prefix));
      if (overlay !== undefined) {
        const key = name.slice(overlay.length);
        if (key === 'opaque') opaque ||= this.#read(host, name)?.toString('latin1') === 'y';
        if (key === 'redirect' || key === 'metacopy') throw overlayFeature(path, name);
        continue;
      }
      if (hostXattrs.has(name)) continue;
      const value = this.#read(host, name);
      if (value !== undefined) xattrs.set(name, name === 'security.capability' ? capabilityV2(value) : value);
    }
    return { xattrs, opaque };
  }

  /** One xattr's value; undefined when it vanished since it was listed. */
  #read(host: string, name: string): Buffer | undefined {
    try {
      return this.#fsx.lgetxattr(host, name);
    } catch (err) {
      if (isErrnoError(err, 'ENODATA')) return undefined;
      throw err;
    }
  }
}

function overlayFeature(path: string, xattr: string): UnsupportedError {
  return new UnsupportedError(`Cannot commit the layer: "/${path}" has "${xattr}", which overlayfs writes with redirect_dir or metacopy, and its content lives in the image's layers`, {
    hint: 'Mount the container\'s overlay without "redirect_dir" and "metacopy" (the kernel\'s overlay module parameters)',
  });
}

/** The header fields of `stats`, mtime in whole seconds and clamped to the source date epoch. */
function headerOf(name: string, type: TarHeaderFields['type'], stats: Stats, xattrs: ReadonlyMap<string, Buffer>, options: UpperWalkOptions): TarHeaderFields {
  // Whole seconds, as docker writes layers (moby pkg/archive: ModTime.Truncate(time.Second)).
  let mtime = Math.max(0, Math.floor(stats.mtimeMs / 1000));
  const epoch = options.sourceDateEpoch;
  // BuildKit's rewrite-timestamp: only times after SOURCE_DATE_EPOCH are rewritten.
  if (epoch !== undefined && mtime > epoch) mtime = epoch;
  return { name, type, mode: stats.mode & 0o7777, uid: stats.uid, gid: stats.gid, size: 0, mtime, linkname: '', devmajor: 0, devminor: 0, xattrs };
}

/** An overlay whiteout: a character device with device number 0/0 (overlayfs docs "whiteouts"). */
function isWhiteout(stats: Stats): boolean {
  return stats.isCharacterDevice() && stats.rdev === 0;
}

/** The names in `dir`, in byte order (Go's string order, the order of docker's walk). */
async function readNames(dir: string, rel: string): Promise<string[]> {
  const raw = await readdir(dir, { encoding: 'buffer' });
  raw.sort(Buffer.compare);
  return raw.map((name) => utf8(name, rel === '' ? name.toString('utf8') : `${rel}/${name.toString('utf8')}`));
}

/** `raw` as a string; names and link targets that are not UTF-8 cannot be written faithfully. */
function utf8(raw: Buffer, path: string): string {
  const text = raw.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(raw)) {
    throw new UnsupportedError(`Cannot commit the layer: "/${path}" has a name or link target that is not UTF-8`, {
      hint: 'Rename it in the container, then commit again',
    });
  }
  return text;
}

/**
 * security.capability for a layer: a VFS_CAP_REVISION_3 value (written in a user
 * namespace, with the namespace's root uid) becomes revision 2, since that uid means
 * nothing where the layer is unpacked (moby ReadSecurityXattrToTarHeader).
 */
function capabilityV2(value: Buffer): Buffer {
  const revisionOffset = 3;
  const revision2Size = 20;
  if (value.length < revision2Size || value[revisionOffset] !== 3) return value;
  const v2 = Buffer.from(value.subarray(0, revision2Size));
  v2[revisionOffset] = 2;
  return v2;
}

/** major(3) of a dev_t as glibc encodes it (sys/sysmacros.h). */
function major(dev: number): number {
  const d = BigInt(dev);
  return Number(((d >> 8n) & 0xfffn) | ((d >> 32n) & ~0xfffn));
}

/** minor(3) of a dev_t as glibc encodes it (sys/sysmacros.h). */
function minor(dev: number): number {
  const d = BigInt(dev);
  return Number((d & 0xffn) | ((d >> 12n) & ~0xffn));
}
