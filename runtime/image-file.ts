/**
 * Files of an image as its container will see them, read from the layer directories
 * before any overlay is mounted (create resolves `-u NAME` against the image's
 * /etc/passwd and /etc/group). Every path is resolved the way the kernel would resolve
 * it inside the container's merged root: each symlink, intermediate or final, absolute or
 * relative, is followed inside that root (an absolute target starts again at the
 * container's "/", ".." never climbs above it), and each lookup is overlayfs's merge of
 * the lower layers (overlayfs docs "Directories", "whiteouts and opaque directories").
 * No host path outside the layer directories is ever opened: an image whose /etc is a
 * symlink to "/etc" must not make berth read the host's passwd (runc resolves the user
 * after pivot_root, where the kernel keeps every lookup inside the container).
 */
import { constants } from 'node:fs';
import { lstat, open, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { isErrnoError } from '../common/errors.js';
import { loadFsx } from '../common/sys/fsx.js';

/** The most symlinks one lookup follows before it fails with ELOOP (Linux's MAXSYMLINKS). */
export const maxSymlinkHops = 40;

/** The xattrs that mark an overlay directory opaque: root mounts, and `userxattr` (rootless) mounts. */
const opaqueXattrs = ['trusted.overlay.opaque', 'user.overlay.opaque'];

/** A merged directory: its real directories in the layers that take part, topmost first. */
type MergedDir = readonly string[];

/** What a name in a merged directory is. */
type Entry =
  | { readonly kind: 'dir'; readonly reals: MergedDir }
  | { readonly kind: 'other'; readonly real: string; readonly symlink: boolean; readonly file: boolean };

/** The outcome of resolving a path: the real file, or why there is none (the kernel's errno). */
export type ImagePathResult =
  | { readonly found: true; readonly real: string; readonly kind: 'file' | 'dir' | 'other' }
  | { readonly found: false; readonly errno: 'ENOENT' | 'ENOTDIR' | 'ELOOP' };

/** An overlay whiteout: a character device with device number 0/0 (overlayfs docs "whiteouts"). */
function isWhiteout(st: { isCharacterDevice(): boolean; rdev: number }): boolean {
  return st.isCharacterDevice() && st.rdev === 0;
}

function isOpaque(dir: string): boolean {
  for (const name of opaqueXattrs) {
    try {
      if (loadFsx().lgetxattr(dir, name).toString('latin1') === 'y') return true;
    } catch {
      // ENODATA: not this form (or not opaque)
    }
  }
  return false;
}

/**
 * Looks `name` up in a merged directory as overlayfs's ovl_lookup does: the topmost layer
 * that has the name decides; a whiteout hides it; a non-directory hides whatever lies
 * below it; a directory merges with the same directories of the layers below, down to
 * an opaque one, and stops at a layer where the name is anything else.
 */
async function lookup(parent: MergedDir, name: string): Promise<Entry | undefined> {
  const reals: string[] = [];
  for (const dir of parent) {
    const real = join(dir, name);
    const st = await lstat(real).catch((err: unknown) => {
      if (isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ENOTDIR')) return undefined;
      throw err;
    });
    if (st === undefined) continue;
    if (isWhiteout(st)) break;
    if (!st.isDirectory()) {
      if (reals.length > 0) break;
      return { kind: 'other', real, symlink: st.isSymbolicLink(), file: st.isFile() };
    }
    reals.push(real);
    if (isOpaque(real)) break;
  }
  return reals.length === 0 ? undefined : { kind: 'dir', reals };
}

/** The non-empty components of a path, "." dropped (".." kept: it needs the walk). */
function components(path: string): string[] {
  return path.split('/').filter((p) => p !== '' && p !== '.');
}

/**
 * Resolves `path` in the merged root of `lowers` (layer directories, topmost first) as the
 * container would (path_resolution(7)): symlinks are followed, the last one too, inside the
 * root; at most {@link maxSymlinkHops} of them.
 */
export async function resolveImagePath(lowers: readonly string[], path: string): Promise<ImagePathResult> {
  // The stack of merged directories walked so far: stack[0] is "/", and ".." pops (never "/").
  const stack: MergedDir[] = [lowers];
  const pending = components(path).reverse();
  let hops = 0;
  for (;;) {
    const name = pending.pop();
    const cwd = stack[stack.length - 1] ?? lowers;
    if (name === undefined) return { found: true, real: cwd[0] ?? '', kind: 'dir' };
    if (name === '..') {
      if (stack.length > 1) stack.pop();
      continue;
    }
    const entry = await lookup(cwd, name);
    if (entry === undefined) return { found: false, errno: 'ENOENT' };
    if (entry.kind === 'dir') {
      stack.push(entry.reals);
      continue;
    }
    if (entry.symlink) {
      if (++hops > maxSymlinkHops) return { found: false, errno: 'ELOOP' };
      const target = await readlink(entry.real);
      // An empty target names nothing (path_resolution(7); Linux returns ENOENT).
      if (target === '') return { found: false, errno: 'ENOENT' };
      if (target.startsWith('/')) stack.length = 1;
      pending.push(...components(target).reverse());
      continue;
    }
    // A file or device with more of the path after it.
    if (pending.length > 0) return { found: false, errno: 'ENOTDIR' };
    return { found: true, real: entry.real, kind: entry.file ? 'file' : 'other' };
  }
}

/**
 * A regular file of the image as the container will see it at `path`, or undefined where
 * it sees none there (missing, whited out, not a regular file, or a symlink loop). runc's
 * GetExecUserPath treats a passwd it cannot open the same way: the user is then unknown.
 */
export async function readImageFile(lowers: readonly string[], path: string): Promise<string | undefined> {
  const result = await resolveImagePath(lowers, path);
  if (!result.found || result.kind !== 'file') return undefined;
  // O_NOFOLLOW: the resolved path is a regular file inside a layer; never follow a link
  // that took its place since.
  const handle = await open(result.real, constants.O_RDONLY | constants.O_NOFOLLOW);
  try {
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
