/**
 * Turns a tar-stream header (plus the raw PAX records the scanner kept) into a validated,
 * typed {@link LayerEntry}. This is the only place that reads tar header fields.
 */
import type { Header } from 'tar-stream';
import { InvalidContentError } from '../../common/errors.js';
import { limitExceeded, type UnpackLimits } from './limits.js';
import { printable } from './safe-path.js';
import type { PaxRecords } from './tar-scanner.js';

/** Entry kinds berth extracts (image-spec layer.md "File Types"; tar cannot hold sockets). */
export type LayerEntryType = 'file' | 'directory' | 'symlink' | 'link' | 'character-device' | 'block-device' | 'fifo';

/** One tar entry, validated. Times are seconds since the epoch (fractional from PAX). */
export interface LayerEntry {
  /** The name as stored (after PAX/GNU long names), for messages. */
  readonly name: string;
  readonly type: LayerEntryType;
  /** Permission bits including setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly atime: number;
  /** Symlink target or hardlink target name; `''` for other types. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** `SCHILY.xattr.*` records, name without the prefix, value as raw bytes. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

const xattrPrefix = 'SCHILY.xattr.';
/** Shared by the entries without PAX records, the vast majority. */
const noRecords: ReadonlyMap<string, Buffer> = new Map();
const maxDeviceNumber = 0xffff_ffff;
/** Go's archive/tar bounds times to what the platform can store; berth keeps them >= 0. */
const maxTime = 2 ** 40;

/**
 * Validates `header` and returns the entry. `raw` are the entry's PAX records as bytes
 * when the scanner has them; otherwise tar-stream's decoded `header.pax` is used.
 * Throws LimitExceededError for names or PAX data over the limits and InvalidContentError
 * for headers berth cannot extract.
 */
export function parseEntry(header: Header, raw: PaxRecords | undefined, limits: UnpackLimits): LayerEntry {
  const name = header.name;
  const linkname = header.linkname ?? '';
  checkPathLength(name, limits, () => 'an entry name');
  checkPathLength(linkname, limits, () => `the link target of "${printable(name.slice(0, 100))}"`);
  const pax = paxRecords(header, raw, limits);
  const type = entryType(header);
  const size = header.size ?? 0;
  const mtime = paxTime(pax, 'mtime') ?? dateSeconds(header.mtime);
  const atime = Math.max(paxTime(pax, 'atime') ?? mtime, mtime);
  const entry: LayerEntry = {
    name,
    type,
    mode: (header.mode ?? 0) & 0o7777,
    uid: paxId(pax, 'uid') ?? header.uid ?? 0,
    gid: paxId(pax, 'gid') ?? header.gid ?? 0,
    size: type === 'file' ? size : 0,
    mtime,
    atime,
    linkname,
    devmajor: header.devmajor ?? 0,
    devminor: header.devminor ?? 0,
    xattrs: xattrsOf(pax),
  };
  validate(entry);
  return entry;
}

function checkPathLength(path: string, limits: UnpackLimits, what: () => string): void {
  // UTF-8 needs at most 3 bytes per UTF-16 code unit: most names skip counting bytes.
  if (path.length * 3 <= limits.maxPathBytes) return;
  const bytes = Buffer.byteLength(path);
  if (bytes > limits.maxPathBytes) throw limitExceeded('maxPathBytes', limits.maxPathBytes, `${what()} of ${bytes} bytes`);
}

function paxRecords(header: Header, raw: PaxRecords | undefined, limits: UnpackLimits): PaxRecords {
  if (raw !== undefined) return raw;
  const decoded: unknown = header.pax;
  if (decoded === null || typeof decoded !== 'object') return noRecords;
  const records = new Map<string, Buffer>();
  let total = 0;
  for (const [key, value] of Object.entries(decoded)) {
    if (typeof value !== 'string') continue;
    const bytes = Buffer.from(value, 'utf8');
    total += Buffer.byteLength(key) + bytes.length;
    records.set(key, bytes);
  }
  if (total > limits.maxPaxHeaderBytes) {
    throw limitExceeded('maxPaxHeaderBytes', limits.maxPaxHeaderBytes, `a PAX header of ${total} bytes`);
  }
  return records;
}

function entryType(header: Header): LayerEntryType {
  switch (header.type) {
    case 'file':
    case 'contiguous-file': // Go's archive/tar and GNU tar extract contiguous files as regular ones
      return 'file';
    case 'directory':
    case 'symlink':
    case 'link':
    case 'character-device':
    case 'block-device':
    case 'fifo':
      return header.type;
    default:
      // containerd and Docker: "unhandled tar header type"
      throw new InvalidContentError(`Cannot unpack layer: entry "${printable(header.name)}" has an unsupported tar type`);
  }
}

function validate(entry: LayerEntry): void {
  const bad = (why: string): InvalidContentError =>
    new InvalidContentError(`Cannot unpack layer: entry "${printable(entry.name)}" ${why}`);
  if (!isId(entry.uid) || !isId(entry.gid)) throw bad(`has an invalid owner ${entry.uid}:${entry.gid}`);
  if (!Number.isSafeInteger(entry.size) || entry.size < 0) throw bad('has an invalid size');
  if ((entry.type === 'symlink' || entry.type === 'link') && entry.linkname === '') throw bad('is a link without a target');
  if (entry.linkname.includes('\0')) throw bad('has a link target with a NUL byte');
  if (entry.type === 'character-device' || entry.type === 'block-device') {
    // containerd rejects device numbers that do not fit mknod's 32-bit major and minor.
    if (!isUint(entry.devmajor, maxDeviceNumber) || !isUint(entry.devminor, maxDeviceNumber)) throw bad('has an invalid device number');
  }
}

function isId(value: number): boolean {
  return isUint(value, 0xffff_fffe);
}

function isUint(value: number, max: number): boolean {
  return Number.isSafeInteger(value) && value >= 0 && value <= max;
}

function dateSeconds(date: Date | undefined): number {
  const ms = date?.getTime() ?? 0;
  return boundTime(ms / 1000);
}

/** PAX `mtime`/`atime`: decimal seconds with an optional fraction (POSIX pax "mtime"). */
function paxTime(pax: PaxRecords, key: string): number | undefined {
  const text = pax.get(key)?.toString('latin1');
  if (text === undefined || !/^-?\d+(\.\d+)?$/.test(text)) return undefined;
  return boundTime(Number(text));
}

/** PAX `uid`/`gid` override the ustar fields, which hold at most 2097151 in octal. */
function paxId(pax: PaxRecords, key: string): number | undefined {
  const text = pax.get(key)?.toString('latin1');
  if (text === undefined || !/^\d{1,10}$/.test(text)) return undefined;
  return Number(text);
}

/** containerd boundTime: times before the epoch or absurdly far ahead become the epoch. */
function boundTime(seconds: number): number {
  return Number.isFinite(seconds) && seconds >= 0 && seconds < maxTime ? seconds : 0;
}

function xattrsOf(pax: PaxRecords): ReadonlyMap<string, Buffer> {
  if (pax.size === 0) return noRecords;
  const xattrs = new Map<string, Buffer>();
  for (const [key, value] of pax) {
    if (key.startsWith(xattrPrefix) && key.length > xattrPrefix.length) xattrs.set(key.slice(xattrPrefix.length), value);
  }
  return xattrs;
}
