/**
 * Ownership, extended attributes, mode and times of unpacked entries (image-spec layer.md
 * "File Attributes"). The order is containerd's createTarFile: chown first (it clears
 * setuid/setgid and security.capability), then xattrs, then chmod, then times. Nothing
 * here follows a symlink: lchown and lutimes act on the link, chmod is skipped for links
 * and is only given paths this unpack just created as non-links.
 */
import { chmod, lchown, lutimes } from 'node:fs/promises';
import type { FileHandle } from 'node:fs/promises';
import { isErrnoError } from '../../common/errors.js';
import type { Fsx } from '../../common/sys/index.js';
import type { LayerEntry } from './entry.js';

/** How metadata is applied in this unpack. */
export interface MetadataPolicy {
  /** Root: chown to the entry's owner and set trusted.* and security.* xattrs. */
  readonly privileged: boolean;
  /** The owner new files get without chown (euid, egid), or undefined when unknown. */
  readonly defaultOwner: { readonly uid: number; readonly gid: number } | undefined;
  /** The process umask, or 0o777 when unknown (then every mode is set explicitly). */
  readonly umask: number;
  readonly fsx: Fsx;
}

/** Where a layer must not set attributes: overlayfs's own, which mark whiteouts, opaque
 * directories, redirects and metacopy (overlayfs docs; the `user.` form is for userxattr
 * mounts). A layer forging them could change what the merged view shows. */
const reservedXattrPrefixes = ['trusted.overlay.', 'user.overlay.'];
/** Namespaces that need CAP_SYS_ADMIN (trusted.*) or CAP_SETFCAP (security.capability). */
const privilegedXattrPrefixes = ['trusted.', 'security.'];

/** True when the entry's owner differs from what a new file gets anyway. */
export function needsChown(entry: LayerEntry, policy: MetadataPolicy): boolean {
  const owner = policy.defaultOwner;
  return policy.privileged && (owner === undefined || owner.uid !== entry.uid || owner.gid !== entry.gid);
}

/** True when a file created with `mode & 0o777` does not already have exactly `mode`. */
export function needsChmod(mode: number, policy: MetadataPolicy): boolean {
  return (mode & ~0o777) !== 0 || (mode & policy.umask) !== 0;
}

/** Metadata of a regular file through its open handle (fchown, fchmod, futimens). */
export async function applyFileMetadata(handle: FileHandle, host: string, entry: LayerEntry, policy: MetadataPolicy): Promise<void> {
  if (needsChown(entry, policy)) await handle.chown(entry.uid, entry.gid);
  setXattrs(host, entry, policy, true);
  if (needsChmod(entry.mode, policy)) await handle.chmod(entry.mode);
  await handle.utimes(entry.atime, entry.mtime);
}

/**
 * Metadata of a non-regular entry at `host`, a path this unpack just created. `isLink`
 * skips chmod (Linux has no lchmod; a symlink's mode is meaningless).
 */
export async function applyPathMetadata(host: string, entry: LayerEntry, policy: MetadataPolicy, isLink: boolean): Promise<void> {
  if (needsChown(entry, policy)) await lchown(host, entry.uid, entry.gid);
  setXattrs(host, entry, policy, !isLink);
  if (!isLink && needsChmod(entry.mode, policy)) await chmod(host, entry.mode);
  await lutimes(host, entry.atime, entry.mtime);
}

/**
 * Sets the entry's `SCHILY.xattr.*` records with lsetxattr. Skipped, as containerd does:
 * ENOTSUP (the filesystem has no xattrs) and user.* on anything but files and directories
 * (xattr(7) forbids them there). Also skipped: overlay's reserved names, and privileged
 * namespaces when not privileged (rootless unpacking cannot set them).
 */
export function setXattrs(host: string, entry: LayerEntry, policy: MetadataPolicy, fileOrDir: boolean): void {
  for (const [name, value] of entry.xattrs) {
    if (reservedXattrPrefixes.some((prefix) => name.startsWith(prefix))) continue;
    if (!policy.privileged && privilegedXattrPrefixes.some((prefix) => name.startsWith(prefix))) continue;
    try {
      policy.fsx.lsetxattr(host, name, value);
    } catch (err) {
      if (isErrnoError(err, 'ENOTSUP') || isErrnoError(err, 'EOPNOTSUPP')) continue;
      if (isErrnoError(err, 'EPERM') && name.startsWith('user.') && !fileOrDir) continue;
      throw err;
    }
  }
}
