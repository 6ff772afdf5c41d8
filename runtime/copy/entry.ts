/**
 * One file system object being copied, as a tar header describes it: what the tree
 * readers produce and the tree writer and tar writer consume. Names are archive names
 * (docker's: the copied object's base name, then its contents below it).
 */
import { InvalidContentError } from '../../common/errors.js';

/** The entry types a copy carries (sockets are skipped, as docker's archiver skips them). */
export type EntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

/**
 * One entry. Lifecycle: a reader yields an entry and its `data` stays readable only until
 * the reader is asked for the next entry, so a consumer reads the data first.
 */
export interface CopyEntry {
  /** Archive name: relative, "/"-separated, no trailing "/" (the tar writer adds it for directories). */
  readonly name: string;
  readonly type: EntryType;
  /** Permission bits with setuid, setgid and sticky (mode & 07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Bytes of data; 0 unless `type` is 'file'. */
  readonly size: number;
  readonly mtime: Date;
  /** A symlink's target, or for 'link' the archive name of the entry it is a hard link to. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** A regular file's contents, exactly `size` bytes. */
  readonly data: AsyncIterable<Uint8Array> | undefined;
}

/**
 * The components of an archive name from a tar stream, relative to the extraction
 * directory: a leading "/" and "." components are dropped and ".." is applied. A name
 * that climbs above the extraction directory is refused, as docker's untar refuses it
 * ("is outside of"): [] names the extraction directory itself.
 */
export function entryComponents(name: string): string[] {
  if (name.includes('\0')) throw new InvalidContentError(`Cannot extract the archive: entry "${printable(name)}" contains a NUL byte`);
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part !== '..') parts.push(part);
    else if (parts.pop() === undefined) {
      throw new InvalidContentError(`Cannot extract the archive: entry "${printable(name)}" is outside of the destination directory`);
    }
  }
  return parts;
}

/**
 * Renames the archive's top entry: `oldBase` (and everything under it) becomes `newBase`,
 * as docker's RebaseArchiveEntries does for a copy whose destination has another name.
 */
export function rebaseName(name: string, oldBase: string, newBase: string): string {
  if (name === oldBase) return newBase;
  if (name.startsWith(`${oldBase}/`)) return newBase + name.slice(oldBase.length);
  return name;
}

/** {@link rebaseName} applied to an entry (and to a hard link's target name). */
export function rebaseEntry(entry: CopyEntry, oldBase: string, newBase: string | undefined): CopyEntry {
  if (newBase === undefined || newBase === oldBase) return entry;
  const name = rebaseName(entry.name, oldBase, newBase);
  const linkname = entry.type === 'link' ? rebaseName(entry.linkname, oldBase, newBase) : entry.linkname;
  return { ...entry, name, linkname };
}

/** A name made safe to quote in a message: control characters escaped, length capped. */
export function printable(name: string): string {
  const short = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  return short.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
