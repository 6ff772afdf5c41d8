/**
 * Snapshots of a directory tree, for comparing what berth unpacked with what umoci (or an
 * overlay mount of berth's layer directories) shows: every entry's type, mode, owner,
 * size, content hash, link target, xattrs, device numbers and hardlink group.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { lstat, readdir, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { loadFsx } from '../../common/sys/fsx.js';

export { mergeLayersWithOverlay, umociUnpack, withMergedLayers, type MergedLayers, type MergeOptions, type UnpackedRootfs } from './rootfs.js';

/** File types as lstat(2) reports them. */
export type EntryType = 'file' | 'dir' | 'symlink' | 'char' | 'block' | 'fifo' | 'socket';

/** One entry of a {@link TreeSnapshot}. Fields that do not apply to its type are absent. */
export interface TreeEntry {
  /** Relative to the root, `/`-separated, no leading `./`. */
  readonly path: string;
  readonly type: EntryType;
  /** Permission bits with setuid/setgid/sticky: `st_mode & 0o7777`. */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Seconds since the epoch (whole seconds). */
  readonly mtime: number;
  /** Files only. */
  readonly size?: number;
  /** Files only: hex SHA-256 of the content. */
  readonly sha256?: string;
  /** Symlinks only. */
  readonly linkTarget?: string;
  /** Extended attributes by name; values as `text:…` when printable, else `hex:…`. */
  readonly xattrs: Readonly<Record<string, string>>;
  /** Devices only. */
  readonly rdev?: { readonly major: number; readonly minor: number };
  /** When other entries of the tree share this inode: the first such path in sort order. */
  readonly hardlinkGroup?: string;
}

/** The entries of a tree, sorted by path (the root itself excluded). */
export type TreeSnapshot = readonly TreeEntry[];

/** Fields {@link diffTrees} can compare. */
export type EntryField = Exclude<keyof TreeEntry, 'path'>;

/** Options for {@link diffTrees}. */
export interface DiffOptions {
  /** Fields to leave out; default `['mtime']`, since unpackers differ on directory times. */
  readonly ignoreFields?: readonly EntryField[];
  /** Paths (and everything under them) to leave out: exact paths or RegExps on the path. */
  readonly ignorePaths?: readonly (string | RegExp)[];
  /** xattr names to leave out, e.g. /^security\.selinux$/. */
  readonly ignoreXattrs?: readonly RegExp[];
}

/** Reads a tree without following symlinks. */
export async function snapshotTree(root: string): Promise<TreeSnapshot> {
  const fsx = loadFsx();
  const raw: (TreeEntry & { inode: string; nlink: bigint })[] = [];
  const walk = async (relative: string): Promise<void> => {
    const names = (await readdir(relative === '' ? root : join(root, relative))).sort();
    for (const name of names) {
      const path = relative === '' ? name : `${relative}/${name}`;
      const full = join(root, path);
      const st = await lstat(full, { bigint: true });
      const type = entryType(st.mode);
      const xattrs: Record<string, string> = {};
      for (const attr of fsx.llistxattr(full).sort()) xattrs[attr] = showXattrValue(fsx.lgetxattr(full, attr));
      raw.push({
        path,
        type,
        mode: Number(st.mode & 0o7777n),
        uid: Number(st.uid),
        gid: Number(st.gid),
        mtime: Number(st.mtimeMs / 1000n),
        ...(type === 'file' ? { size: Number(st.size), sha256: await hashFile(full) } : {}),
        ...(type === 'symlink' ? { linkTarget: await readlink(full) } : {}),
        ...(type === 'char' || type === 'block' ? { rdev: deviceNumbers(st.rdev) } : {}),
        xattrs,
        inode: `${st.dev}:${st.ino}`,
        nlink: st.nlink,
      });
      if (type === 'dir') await walk(path);
    }
  };
  await walk('');
  raw.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const firstByInode = new Map<string, string>();
  const countByInode = new Map<string, number>();
  for (const e of raw) {
    if (e.type === 'dir' || e.nlink < 2n) continue;
    if (!firstByInode.has(e.inode)) firstByInode.set(e.inode, e.path);
    countByInode.set(e.inode, (countByInode.get(e.inode) ?? 0) + 1);
  }
  return raw.map(({ inode, nlink: _nlink, ...entry }) => {
    const group = (countByInode.get(inode) ?? 0) > 1 ? firstByInode.get(inode) : undefined;
    return group === undefined ? entry : { ...entry, hardlinkGroup: group };
  });
}

/** One difference between two snapshots. */
export interface TreeDifference {
  readonly path: string;
  /** `missing`: only in `a`; `extra`: only in `b`; else the field that differs. */
  readonly kind: 'missing' | 'extra' | EntryField;
  readonly a?: unknown;
  readonly b?: unknown;
}

/**
 * Compares snapshot `a` (expected) with `b` (actual). The result is empty when they
 * match; {@link formatDifferences} turns it into an assertion message.
 */
export function diffTrees(a: TreeSnapshot, b: TreeSnapshot, options: DiffOptions = {}): TreeDifference[] {
  const ignoreFields = new Set<EntryField>(options.ignoreFields ?? ['mtime']);
  const ignored = (path: string): boolean =>
    (options.ignorePaths ?? []).some((p) => (typeof p === 'string' ? path === p || path.startsWith(`${p}/`) : p.test(path)));
  const clean = (entry: TreeEntry): TreeEntry => {
    const patterns = options.ignoreXattrs ?? [];
    if (patterns.length === 0) return entry;
    const xattrs = Object.fromEntries(Object.entries(entry.xattrs).filter(([name]) => !patterns.some((p) => p.test(name))));
    return { ...entry, xattrs };
  };
  const left = new Map(a.filter((e) => !ignored(e.path)).map((e) => [e.path, clean(e)]));
  const right = new Map(b.filter((e) => !ignored(e.path)).map((e) => [e.path, clean(e)]));
  const out: TreeDifference[] = [];
  const fields: EntryField[] = ['type', 'mode', 'uid', 'gid', 'mtime', 'size', 'sha256', 'linkTarget', 'xattrs', 'rdev', 'hardlinkGroup'];
  for (const path of [...new Set([...left.keys(), ...right.keys()])].sort()) {
    const x = left.get(path);
    const y = right.get(path);
    if (y === undefined) out.push({ path, kind: 'missing' });
    else if (x === undefined) out.push({ path, kind: 'extra' });
    else {
      for (const field of fields) {
        if (ignoreFields.has(field)) continue;
        if (JSON.stringify(x[field]) !== JSON.stringify(y[field])) out.push({ path, kind: field, a: x[field], b: y[field] });
        // Once the types differ, the other fields say nothing more.
        if (field === 'type' && x.type !== y.type) break;
      }
    }
  }
  return out;
}

/** One line per difference, e.g. `data/kept: sha256 "ab…" != "cd…"`; at most `limit` lines. */
export function formatDifferences(differences: readonly TreeDifference[], limit = 50): string {
  const lines = differences.slice(0, limit).map((d) => {
    if (d.kind === 'missing') return `${d.path}: missing`;
    if (d.kind === 'extra') return `${d.path}: unexpected`;
    const show = (value: unknown): string =>
      value === undefined ? 'none' : d.kind === 'mode' && typeof value === 'number' ? `0o${value.toString(8)}` : JSON.stringify(value);
    return `${d.path}: ${d.kind} ${show(d.a)} != ${show(d.b)}`;
  });
  if (differences.length > limit) lines.push(`… and ${differences.length - limit} more`);
  return lines.join('\n');
}

function entryType(mode: bigint): EntryType {
  switch (mode & 0o170000n) {
    case 0o100000n:
      return 'file';
    case 0o040000n:
      return 'dir';
    case 0o120000n:
      return 'symlink';
    case 0o020000n:
      return 'char';
    case 0o060000n:
      return 'block';
    case 0o010000n:
      return 'fifo';
    default:
      return 'socket';
  }
}

/** glibc's major()/minor() (sys/sysmacros.h) on a 64-bit dev_t. */
function deviceNumbers(rdev: bigint): { major: number; minor: number } {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return { major: Number(major), minor: Number(minor) };
}

/** How snapshots show an xattr value: `text:…` when printable ASCII, else `hex:…`. */
export function showXattrValue(value: Buffer): string {
  const text = value.toString('utf8');
  return /^[\x20-\x7e]*$/.test(text) && Buffer.from(text).equals(value) ? `text:${text}` : `hex:${value.toString('hex')}`;
}

async function hashFile(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}
