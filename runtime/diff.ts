/**
 * `docker diff`: what a container changed in its file system, read from its overlay
 * upper directory against the image's layers (moby pkg/archive/changes.go `changes` with
 * overlayDeletedFile). Nothing is followed: every name is lstat'ed, so a symlink in the
 * upper directory (which the container wrote) is reported, never traversed.
 */
import type { Stats } from 'node:fs';
import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrnoError } from '../common/errors.js';
import { loadFsx, type Fsx } from '../common/sys/index.js';

/**
 * One change, as `docker diff` prints it: A added, C changed, D deleted. `path` is
 * absolute in the container ("/etc/hosts").
 */
export interface Change {
  readonly kind: 'A' | 'C' | 'D';
  readonly path: string;
}

/** The xattrs that mark an overlay directory opaque: root mounts, and `userxattr` (rootless) mounts. */
const opaqueXattrs = ['trusted.overlay.opaque', 'user.overlay.opaque'];

/**
 * The changes in `upper` (an overlay upper directory) over `lowers` (the image's layer
 * directories, topmost first), sorted by path as docker's walk gives them:
 *  - an entry of `upper` that the image has is C, one it lacks is A;
 *  - a whiteout (character device 0/0) is D;
 *  - an opaque directory is C (A if the image lacks it), and what the image has in it
 *    that `upper` lacks is D;
 *  - a directory the image has is C when something under it changed, or when its mode,
 *    size or mtime differ from the image's (docker skips a copied-up directory that is
 *    identical and holds no change).
 * "The image has" is overlay's own lookup over the lowers: their whiteouts and opaque
 * directories hide what is below them.
 */
export async function containerChanges(upper: string, lowers: readonly string[]): Promise<Change[]> {
  const diff = new Diff(upper, loadFsx());
  await diff.scan('', [...lowers]);
  return diff.changes.sort(comparePaths);
}

/** What the image has at a path: the topmost lower entry, and the lower directories that merge there. */
interface LowerView {
  readonly stats: Stats | undefined;
  readonly dirs: readonly string[];
}

class Diff {
  readonly changes: Change[] = [];
  readonly #upper: string;
  readonly #fsx: Fsx;

  constructor(upper: string, fsx: Fsx) {
    this.#upper = upper;
    this.#fsx = fsx;
  }

  /**
   * Records the changes under upper directory `rel` ('' is the root), whose image
   * counterpart is the merge of `lowerDirs`; true when there is at least one.
   */
  async scan(rel: string, lowerDirs: readonly string[]): Promise<boolean> {
    const names = await readdir(join(this.#upper, rel));
    let changed = false;
    for (const name of names) {
      const path = rel === '' ? name : `${rel}/${name}`;
      const stats = await lstat(join(this.#upper, path));
      if (isWhiteout(stats)) {
        this.#add('D', path);
        changed = true;
        continue;
      }
      const lower = await this.#lookupLower(lowerDirs, name);
      if (!stats.isDirectory()) {
        this.#add(lower.stats === undefined ? 'A' : 'C', path);
        changed = true;
      } else if (await this.#scanDirectory(path, stats, lower)) {
        changed = true;
      }
    }
    return changed;
  }

  /** A directory of the upper layer and what is below it; true when it is reported. */
  async #scanDirectory(path: string, stats: Stats, lower: LowerView): Promise<boolean> {
    // The image's entries under an opaque directory stay the reference for its children:
    // a file deleted and written again is changed, not added.
    const below = await this.scan(path, lower.dirs);
    const opaque = this.#isOpaque(join(this.#upper, path));
    const deleted = opaque && (await this.#addDeletions(path, lower.dirs));
    if (lower.stats === undefined) {
      this.#add('A', path);
      return true;
    }
    if (opaque || below || deleted || !sameDirectory(stats, lower.stats)) {
      this.#add('C', path);
      return true;
    }
    return false;
  }

  /** D for each entry the image has in opaque directory `path` that the upper directory lacks. */
  async #addDeletions(path: string, lowerDirs: readonly string[]): Promise<boolean> {
    const upperNames = new Set(await readdir(join(this.#upper, path)));
    const names = new Set<string>();
    for (const dir of lowerDirs) for (const name of await readdir(dir)) names.add(name);
    let any = false;
    for (const name of names) {
      if (upperNames.has(name)) continue;
      if ((await this.#lookupLower(lowerDirs, name)).stats === undefined) continue;
      this.#add('D', `${path}/${name}`);
      any = true;
    }
    return any;
  }

  /**
   * overlayfs lookup of `name` in the merged directories `dirs` (topmost first): the first
   * entry found decides; a whiteout hides it; a directory merges with the directories
   * below it until an opaque one or a non-directory.
   */
  async #lookupLower(dirs: readonly string[], name: string): Promise<LowerView> {
    let first: Stats | undefined;
    const merged: string[] = [];
    for (const dir of dirs) {
      const path = join(dir, name);
      const stats = await lstatOrUndefined(path);
      if (stats === undefined) continue;
      // A whiteout hides this name in every layer below it.
      if (isWhiteout(stats)) break;
      if (!stats.isDirectory()) {
        first ??= stats;
        break;
      }
      first ??= stats;
      merged.push(path);
      if (this.#isOpaque(path)) break;
    }
    return { stats: first, dirs: merged };
  }

  #isOpaque(dir: string): boolean {
    for (const name of opaqueXattrs) {
      try {
        if (this.#fsx.lgetxattr(dir, name).toString('latin1') === 'y') return true;
      } catch (err) {
        // No such attribute (ENODATA), or none of this namespace here (ENOTSUP; trusted.* unprivileged).
        if (!isErrnoError(err, 'ENODATA') && !isErrnoError(err, 'ENOTSUP') && !isErrnoError(err, 'EOPNOTSUPP') && !isErrnoError(err, 'EPERM')) throw err;
      }
    }
    return false;
  }

  #add(kind: Change['kind'], path: string): void {
    this.changes.push({ kind, path: `/${path}` });
  }
}

/** An overlay whiteout: a character device with device number 0/0 (overlayfs docs "whiteouts"). */
function isWhiteout(stats: Stats): boolean {
  return stats.isCharacterDevice() && stats.rdev === 0;
}

/** docker's test for a directory that was only copied up: same size, mode and mtime (as precise as Node's mtimeMs). */
function sameDirectory(upper: Stats, lower: Stats): boolean {
  return lower.isDirectory() && upper.size === lower.size && upper.mode === lower.mode && upper.mtimeMs === lower.mtimeMs;
}

async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ENOTDIR')) return undefined;
    throw err;
  }
}

/** Orders paths component by component, bytewise: "/a", "/a/b", "/a-b" (a walk's order, Go's string order). */
function comparePaths(a: Change, b: Change): number {
  const left = a.path.split('/');
  const right = b.path.split('/');
  for (let i = 0; i < Math.min(left.length, right.length); i++) {
    const order = Buffer.compare(Buffer.from(left[i] ?? ''), Buffer.from(right[i] ?? ''));
    if (order !== 0) return order;
  }
  return left.length - right.length;
}
