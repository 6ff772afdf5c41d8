/**
 * Writes one validated tar entry into the layer directory, in overlayfs lower form
 * (image-spec layer.md "Applying Changesets"). Every create is exclusive (O_EXCL, mkdir,
 * symlink, link, mknod): when something is already at the path, LayerRoot.clear removes
 * it and the create is retried, so the last duplicate wins and a symlink at the final
 * component is replaced, never followed ("Changeset over existing files"). Per-entry
 * syscalls are synchronous; metadata.ts says why.
 */
import { constants, linkSync, mkdirSync, openSync, symlinkSync } from 'node:fs';
import { InvalidContentError, isErrnoError } from '../../common/errors.js';
import type { LayerEntry } from './entry.js';
import { writeFileEntry, type EntryData } from './file-writer.js';
import { lstatIfExists, type ClearResult, type LayerRoot } from './layer-root.js';
import { applyDirMetadata, applyPathMetadata, setXattrs, type MetadataPolicy } from './metadata.js';
import { classifyWhiteout, cleanEntryPath, joinPath, printable, splitPath } from './safe-path.js';
import { applyWhiteout } from './whiteout.js';

const S_IFCHR = 0o020000;
const S_IFBLK = 0o060000;
const S_IFIFO = 0o010000;
/** O_CLOEXEC is added by libuv. */
const createFlags = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Writes entries into one {@link LayerRoot}; see the module comment. */
export class EntryWriter {
  readonly #root: LayerRoot;
  readonly #policy: MetadataPolicy;

  constructor(root: LayerRoot, policy: MetadataPolicy) {
    this.#root = root;
    this.#policy = policy;
  }

  /**
   * Writes `entry`, whose data is `data` (consumed fully for regular files; the caller
   * drains it for the other types). Entries that resolve to the layer root are ignored, as
   * containerd does ("file ignored: resolved to root"): a layer cannot replace its root.
   */
  async write(entry: LayerEntry, data: EntryData): Promise<void> {
    const path = cleanEntryPath(entry.name);
    if (path === '') return;
    const { parent, base } = splitPath(path);
    const whiteout = classifyWhiteout(base, entry.name);
    if (whiteout.kind === 'meta') return;
    const dir = this.#root.ensureDir(parent);
    if (whiteout.kind === 'opaque') return this.#root.markOpaque(dir);
    if (whiteout.kind === 'whiteout') return applyWhiteout(this.#root, joinPath(dir, whiteout.name), entry, this.#policy);
    const target = joinPath(dir, base);
    const host = this.#root.host(target);
    switch (entry.type) {
      case 'file': {
        let fd = -1;
        await this.#create(target, false, () => (fd = openSync(host, createFlags, entry.mode & 0o777)));
        return writeFileEntry(fd, host, entry, data, this.#policy);
      }
      case 'directory':
        return this.#directory(target, entry);
      case 'symlink':
        await this.#create(target, false, () => symlinkSync(entry.linkname, host));
        return applyPathMetadata(host, entry, this.#policy, 'symlink');
      case 'link':
        return this.#hardlink(target, entry);
      case 'fifo':
        return this.#special(target, entry, S_IFIFO);
      case 'character-device':
      case 'block-device':
        // Docker and containerd skip device nodes where mknod is not allowed (user namespaces).
        if (!this.#policy.privileged) return;
        return this.#special(target, entry, entry.type === 'block-device' ? S_IFBLK : S_IFCHR);
    }
  }

  /** Applies the metadata of every directory entry, deepest first; call once at the end. */
  finish(): void {
    for (const [path, metadata] of this.#root.dirs.withMetadata()) {
      applyDirMetadata(this.#root.host(path), metadata, this.#policy);
    }
  }

  /** Runs an exclusive create at real path `path`, clearing what is there once on EEXIST. */
  async #create(path: string, isDir: boolean, create: () => unknown): Promise<ClearResult> {
    try {
      create();
      return { kept: false, wasWhiteout: false };
    } catch (err) {
      if (!isErrnoError(err, 'EEXIST')) throw err;
    }
    const cleared = await this.#root.clear(path, isDir);
    if (!cleared.kept) create();
    return cleared;
  }

  async #directory(path: string, entry: LayerEntry): Promise<void> {
    const host = this.#root.host(path);
    // Owner-only until finish() sets the entry's mode: later entries must be writable in it.
    const result = await this.#create(path, true, () => mkdirSync(host, 0o700));
    this.#root.dirs.add(path);
    // A directory replacing this layer's whiteout of the same name must still hide the
    // lower layers' directory: "delete, then add" (layer.md "Whiteouts").
    if (result.wasWhiteout) this.#root.markOpaque(path);
    setXattrs(host, entry, this.#policy, true);
    const { mode, uid, gid, atime, mtime } = entry;
    this.#root.dirs.setMetadata(path, { mode, uid, gid, atime, mtime });
  }

  async #hardlink(path: string, entry: LayerEntry): Promise<void> {
    // The target is resolved inside the root like any entry name (containerd hardlinkRootPath).
    const linkname = printable(entry.linkname);
    const targetPath = cleanEntryPath(entry.linkname);
    if (targetPath === '') throw new InvalidContentError(`Cannot unpack layer: hardlink "${printable(entry.name)}" points to the layer root`);
    const { parent, base } = splitPath(targetPath);
    const dir = this.#root.resolveDir(parent, false);
    const target = dir === undefined ? undefined : joinPath(dir, base);
    if (target === path) return; // a link to itself: the file is already there
    const stats = target === undefined ? undefined : lstatIfExists(this.#root.host(target));
    if (target === undefined || stats === undefined) {
      throw new InvalidContentError(`Cannot unpack layer: hardlink "${printable(entry.name)}" points to "${linkname}", which is not in the layer`);
    }
    if (stats.isDirectory()) throw new InvalidContentError(`Cannot unpack layer: hardlink "${printable(entry.name)}" points to directory "${linkname}"`);
    // link(2) does not follow a symlink target: a link to a symlink is a second symlink.
    const host = this.#root.host(path);
    await this.#create(path, false, () => linkSync(this.#root.host(target), host));
    const kind = stats.isSymbolicLink() ? 'symlink' : stats.isFile() ? 'file' : 'special';
    applyPathMetadata(host, entry, this.#policy, kind);
  }

  async #special(path: string, entry: LayerEntry, type: number): Promise<void> {
    const host = this.#root.host(path);
    const { fsx } = this.#policy;
    await this.#create(path, false, () => fsx.mknod(host, type | (entry.mode & 0o777), entry.devmajor, entry.devminor));
    applyPathMetadata(host, entry, this.#policy, 'special');
  }
}
