/**
 * Whiteouts in overlayfs form (image-spec layer.md "Whiteouts" and "Opaque Whiteout";
 * overlayfs docs "whiteouts and opaque directories"): `.wh.NAME` becomes a character
 * device 0/0 at NAME, and `.wh..wh..opq` in D becomes the xattr `overlay.opaque=y` on D.
 * The whiteout files themselves are never created. This is containerd's
 * OverlayConvertWhiteout, except where this layer already has an entry at NAME: containerd
 * fails there (mknod: EEXIST); berth follows the spec (see applyWhiteout).
 */
import { lchownSync, lstatSync } from 'node:fs';
import { isErrnoError } from '../../common/errors.js';
import type { LayerEntry } from './entry.js';
import type { LayerRoot } from './layer-root.js';
import { needsChown, type MetadataPolicy } from './metadata.js';

const S_IFCHR = 0o020000;

/**
 * The opaque xattr name: `trusted.overlay.opaque` for a root-mounted overlay; unprivileged
 * unpacking cannot set trusted.*, so it writes the `user.overlay.opaque` form that
 * overlayfs reads with the `userxattr` mount option (rootless, Linux 5.11+).
 */
export function opaqueXattr(privileged: boolean): string {
  return privileged ? 'trusted.overlay.opaque' : 'user.overlay.opaque';
}

/**
 * Whites out real path `path`. "Whiteout files MUST only apply to resources in
 * lower/parent layers" and "files that are present in the same layer as a whiteout file
 * can only be hidden by whiteout files in subsequent layers" (layer.md "Whiteouts"): when
 * this layer already put something at `path`, it stays. A directory it put there is made
 * opaque, so that the lower layers' entry stays hidden as the whiteout asked; any other
 * type hides the lower entry by itself. The result is the same whatever the order of the
 * whiteout and the entry in the tar.
 */
export function applyWhiteout(root: LayerRoot, path: string, entry: LayerEntry, policy: MetadataPolicy): void {
  const host = root.host(path);
  try {
    // Creating a 0/0 character device needs no CAP_MKNOD since Linux 5.8 (vfs_mknod).
    policy.fsx.mknod(host, S_IFCHR, 0, 0);
  } catch (err) {
    if (!isErrnoError(err, 'EEXIST')) throw err;
    const stats = lstatSync(host);
    if (stats.isDirectory()) root.markOpaque(path);
    return;
  }
  // containerd chowns the device to the whiteout entry's owner; overlayfs ignores it.
  if (needsChown(entry, policy)) lchownSync(host, entry.uid, entry.gid);
}
