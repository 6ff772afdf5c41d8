/**
 * Ownership, extended attributes, mode and times of unpacked entries (image-spec layer.md
 * "File Attributes"). The order is containerd's createTarFile: chown first (it clears
 * setuid/setgid and security.capability), then xattrs, then chmod, then times. Nothing
 * here follows a symlink: lchown and lutimes act on the link, chmod is skipped for links
 * and is only given paths this unpack just created as non-links.
 *
 * Per-entry syscalls are synchronous, a deliberate departure from STYLE.md §2's default:
 * each is one metadata syscall on a path or fd the unpack owns (about 3 µs), while a libuv
 * threadpool round trip costs about 30 µs on the 2-vCPU VMs berth targets. With four or
 * more of them per file, async calls made unpacking an ordinary /usr tree 5x slower.
 * File data larger than a chunk still streams asynchronously (file-writer.ts).
 */
import { chmodSync, fchmodSync, fchownSync, futimesSync, lchownSync, lutimesSync } from 'node:fs';
import { isErrnoError } from '../../common/errors.js';
import type { Fsx } from '../../common/sys/index.js';
import type { DirMetadata } from './dir-tree.js';
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

/** What kind of inode {@link applyPathMetadata} is given. */
export type InodeKind = 'symlink' | 'special' | 'file';

/**
 * overlayfs's own attributes, which mark whiteouts, opaque directories, redirects and
 * metacopy (overlayfs docs; the `user.` form is for `userxattr` mounts). A layer forging
 * them could change what the merged view shows, so they are never taken from a tar.
 */
const reservedXattrPrefixes = ['trusted.overlay.', 'user.overlay.'];
/** Namespaces that need CAP_SYS_ADMIN (trusted.*) or CAP_SETFCAP (security.capability). */
const privilegedXattrPrefixes = ['trusted.', 'security.'];

/** True when the entry's owner differs from what a new inode gets anyway. */
export function needsChown(owner: { readonly uid: number; readonly gid: number }, policy: MetadataPolicy): boolean {
  const current = policy.defaultOwner;
  return policy.privileged && (current === undefined || current.uid !== owner.uid || current.gid !== owner.gid);
}

/** True when an inode created with `mode & 0o777` does not already have exactly `mode`. */
export function needsChmod(mode: number, policy: MetadataPolicy): boolean {
  return (mode & ~0o777) !== 0 || (mode & policy.umask) !== 0;
}

/** Metadata of a regular file through its open descriptor (fchown, fchmod, futimens). */
export function applyFileMetadata(fd: number, host: string, entry: LayerEntry, policy: MetadataPolicy): void {
  if (needsChown(entry, policy)) fchownSync(fd, entry.uid, entry.gid);
  setXattrs(host, entry, policy, true);
  if (needsChmod(entry.mode, policy)) fchmodSync(fd, entry.mode);
  futimesSync(fd, entry.atime, entry.mtime);
}

/**
 * Metadata of a non-regular entry at `host`, a path this unpack just created: a symlink
 * (no chmod: Linux has no lchmod and a link's mode is meaningless), a device or fifo
 * (`special`), or a hardlink to a file.
 */
export function applyPathMetadata(host: string, entry: LayerEntry, policy: MetadataPolicy, kind: InodeKind): void {
  if (needsChown(entry, policy)) lchownSync(host, entry.uid, entry.gid);
  setXattrs(host, entry, policy, kind === 'file');
  if (kind !== 'symlink' && needsChmod(entry.mode, policy)) chmodSync(host, entry.mode);
  lutimesSync(host, entry.atime, entry.mtime);
}

/**
 * Metadata of a directory once everything inside it is written (containerd applyNaive:
 * "Directory mtimes must be handled at the end"). The mode is set here too, so that a
 * read-only directory does not block its own contents while unpacking.
 */
export function applyDirMetadata(host: string, metadata: DirMetadata, policy: MetadataPolicy): void {
  if (needsChown(metadata, policy)) lchownSync(host, metadata.uid, metadata.gid);
  chmodSync(host, metadata.mode);
  lutimesSync(host, metadata.atime, metadata.mtime);
}

/**
 * Sets the entry's `SCHILY.xattr.*` records with lsetxattr. Skipped, as containerd does:
 * ENOTSUP (the filesystem has no xattrs) and EPERM for user.* on anything but files and
 * directories (xattr(7) forbids them there). Also skipped: overlay's reserved names, and
 * privileged namespaces when not privileged (rootless unpacking cannot set them).
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
