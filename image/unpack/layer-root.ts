/**
 * The layer directory being written, and the only place that turns a clean relative path
 * into a host path. Parent directories are resolved inside the root: a symlink an earlier
 * entry placed is followed as if the layer directory were "/" (openat2(2)
 * RESOLVE_IN_ROOT, through the fsx addon), so no entry can reach outside it. The final
 * component of an entry is never followed: whatever is there is removed and recreated
 * (image-spec layer.md "Changeset over existing files").
 */
import { lstatSync, mkdirSync, unlinkSync, type Stats } from 'node:fs';
import { lstat, realpath, rm } from 'node:fs/promises';
import {
  InvalidArgumentError,
  InvalidContentError,
  NotFoundError,
  isErrnoError,
} from '../../common/errors.js';
import { loadFsx, type Fsx } from '../../common/sys/index.js';
import { DirTree } from './dir-tree.js';
import { joinPath, printable } from './safe-path.js';

const opaqueValue = Buffer.from('y');

/** What {@link LayerRoot.clear} found at a path and did with it. */
export interface ClearResult {
  /** The path is an existing directory and was kept (the new entry is a directory too). */
  readonly kept: boolean;
  /** The path held an overlay whiteout (a 0/0 character device), now removed. */
  readonly wasWhiteout: boolean;
}

/** See the module comment. One instance per unpack; not safe for concurrent writers. */
export class LayerRoot {
  /** The layer directory's canonical absolute path. */
  readonly path: string;
  /** Known real directories and the metadata pending for them. */
  readonly dirs = new DirTree();
  /** True when the layer directory is setgid, so new files inherit its group. */
  readonly setgid: boolean;
  readonly fsx: Fsx;
  /** The xattr that marks a directory opaque (whiteout.ts opaqueXattr). */
  readonly #opaqueXattr: string;
  readonly #prefix: string;

  private constructor(path: string, setgid: boolean, fsx: Fsx, opaqueXattr: string) {
    this.path = path;
    this.setgid = setgid;
    this.fsx = fsx;
    this.#opaqueXattr = opaqueXattr;
    this.#prefix = `${path}/`;
  }

  /**
   * Opens the layer directory `dir`, which must exist (and should be empty); `opaqueXattr`
   * is the xattr that marks directories opaque in this unpack.
   */
  static async open(dir: string, opaqueXattr: string): Promise<LayerRoot> {
    let path: string;
    let stats: Stats;
    try {
      path = await realpath(dir);
      stats = await lstat(path);
    } catch (err) {
      if (isErrnoError(err, 'ENOENT')) throw new NotFoundError(`Cannot unpack layer into "${dir}": it does not exist`, { cause: err });
      throw err;
    }
    if (!stats.isDirectory()) throw new InvalidArgumentError(`Cannot unpack layer into "${dir}": it is not a directory`);
    if (path === '/') throw new InvalidArgumentError('Cannot unpack layer into "/": a layer needs a directory of its own');
    return new LayerRoot(path, (stats.mode & 0o2000) !== 0, loadFsx(), opaqueXattr);
  }

  /** The host path of a real relative path (one without symlinks, as resolveDir returns). */
  host(path: string): string {
    return path === '' ? this.path : this.#prefix + path;
  }

  /**
   * The real relative path of directory `path` (clean, relative), its symlinks followed
   * inside the root. Missing components are created (mode 0755, as containerd's mkparent
   * does) when `create`; otherwise a missing one gives undefined. Throws
   * InvalidContentError when a component is not a directory or a symlink's target is
   * missing. Synchronous: see metadata.ts for why per-entry syscalls are.
   */
  resolveDir(path: string, create: boolean): string | undefined {
    if (this.dirs.has(path)) return path;
    let real = '';
    for (const part of path.split('/')) {
      const next = joinPath(real, part);
      if (this.dirs.has(next)) {
        real = next;
        continue;
      }
      const stats = lstatIfExists(this.host(next));
      if (stats === undefined) {
        if (!create) return undefined;
        mkdirSync(this.host(next), 0o755);
      } else if (stats.isSymbolicLink()) {
        real = this.#follow(next, path);
        continue;
      } else if (create && isWhiteout(stats)) {
        // This layer whited out `next` and now puts entries under it: a new directory that
        // must still hide the lower layers' one ("delete, then add", layer.md "Whiteouts").
        unlinkSync(this.host(next));
        mkdirSync(this.host(next), 0o755);
        this.markOpaque(next);
      } else if (!stats.isDirectory()) {
        throw new InvalidContentError(`Cannot unpack layer: "${printable(next)}" in "${printable(path)}" is not a directory`);
      }
      this.dirs.add(next);
      real = next;
    }
    return real;
  }

  /** {@link resolveDir} with `create`: never undefined. */
  ensureDir(path: string): string {
    return this.resolveDir(path, true) ?? '';
  }

  /**
   * Makes room at real path `path` for a new entry after creating it failed with EEXIST:
   * keeps an existing directory when the new entry is one too, otherwise removes what is
   * there (recursively for a directory, asynchronously as it may be large; rm never
   * follows symlinks).
   */
  async clear(path: string, isDir: boolean): Promise<ClearResult> {
    const host = this.host(path);
    const stats = lstatIfExists(host);
    if (stats === undefined) return { kept: false, wasWhiteout: false };
    if (stats.isDirectory()) {
      if (isDir) return { kept: true, wasWhiteout: false };
      await rm(host, { recursive: true, force: true });
    } else {
      unlinkSync(host);
    }
    this.dirs.remove(path);
    return { kept: false, wasWhiteout: isWhiteout(stats) };
  }

  /** Marks real directory `path` opaque: it hides everything lower layers have in it. */
  markOpaque(path: string): void {
    this.fsx.lsetxattr(this.host(path), this.#opaqueXattr, opaqueValue);
  }

  /** Resolves symlink `link` (a real path) inside the root to the real directory it names. */
  #follow(link: string, path: string): string {
    let resolved: string;
    try {
      resolved = this.fsx.resolveInRoot(this.path, link);
    } catch (err) {
      if (isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ELOOP') || isErrnoError(err, 'ENOTDIR')) {
        throw new InvalidContentError(
          `Cannot unpack layer: "${printable(path)}" goes through symlink "${printable(link)}", whose target is missing or loops`,
          { cause: err },
        );
      }
      throw err;
    }
    const real = this.#relative(resolved, path);
    const stats = lstatSync(resolved);
    if (!stats.isDirectory()) {
      throw new InvalidContentError(`Cannot unpack layer: "${printable(path)}" goes through symlink "${printable(link)}", which is not a directory`);
    }
    this.dirs.add(real);
    return real;
  }

  /** The root-relative form of a host path openat2 returned; refuses anything outside. */
  #relative(host: string, path: string): string {
    if (host === this.path) return '';
    // RESOLVE_IN_ROOT cannot leave the root; checked anyway in case the root itself moved.
    if (!host.startsWith(this.#prefix)) {
      throw new InvalidContentError(`Cannot unpack layer: "${printable(path)}" resolves outside the layer directory`);
    }
    return host.slice(this.#prefix.length);
  }
}

/** An overlay whiteout: a character device with device number 0/0 (overlayfs docs "whiteouts"). */
export function isWhiteout(stats: Stats): boolean {
  return stats.isCharacterDevice() && stats.rdev === 0;
}

/** lstat(2), or undefined when nothing is at `path`. */
export function lstatIfExists(path: string): Stats | undefined {
  return lstatSync(path, { throwIfNoEntry: false });
}
