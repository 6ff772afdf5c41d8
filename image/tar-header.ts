/**
 * Tar headers for the layers berth writes (snapshot-commit.ts): POSIX ustar blocks, with a
 * pax extended header before an entry whose name, link target or owner ustar cannot hold,
 * or that has extended attributes (POSIX.1-2017 `pax`, "ustar Interchange Format" and "pax
 * Extended Header"). Extended attributes are `SCHILY.xattr.<name>` records with the value's
 * raw bytes, as Go's archive/tar writes them for docker and containerd.
 *
 * Not tar-stream's pack: it encodes pax values as UTF-8 text (headers.js encodePax), which
 * corrupts binary values such as `security.capability`, and it has no way to write a pax
 * header of raw records.
 */

/** Entry types of a layer tar (image-spec layer.md "File Types"). */
export type TarEntryType = 'file' | 'link' | 'symlink' | 'character-device' | 'block-device' | 'directory' | 'fifo';

/** What one header describes. */
export interface TarHeaderFields {
  /** The archive path, relative, `/`-separated; a directory's ends with `/`. */
  readonly name: string;
  readonly type: TarEntryType;
  /** Permission bits with setuid, setgid and sticky (07777). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Data bytes that follow (regular files only; 0 for the other types). */
  readonly size: number;
  /** Whole seconds since the epoch, >= 0. */
  readonly mtime: number;
  /** Symlink target, or the archive path a hardlink points to; `''` otherwise. */
  readonly linkname: string;
  readonly devmajor: number;
  readonly devminor: number;
  /** Extended attributes, written in this order. */
  readonly xattrs: ReadonlyMap<string, Buffer>;
}

export const tarBlockSize = 512;

/** The end-of-archive marker: two zero blocks. */
export const endOfArchive: Buffer = Buffer.alloc(2 * tarBlockSize);

const typeFlags: Readonly<Record<TarEntryType, string>> = {
  'file': '0',
  'link': '1',
  'symlink': '2',
  'character-device': '3',
  'block-device': '4',
  'directory': '5',
  'fifo': '6',
};

/** The largest value of an octal field of `width` bytes (its last byte is the NUL). */
const octalMax = (width: number): number => 8 ** (width - 1) - 1;

/**
 * The header blocks of an entry: a pax header when one is needed, then the ustar block.
 * The caller writes the entry's data after them, then {@link tarPadding} of its size.
 */
export function encodeTarHeader(fields: TarHeaderFields): Buffer {
  const records: [string, Buffer][] = [];
  const nameFits = fitsUstar(fields.name);
  const linkFits = fitsUstar(fields.linkname);
  if (!nameFits) records.push(['path', Buffer.from(fields.name)]);
  if (!linkFits) records.push(['linkpath', Buffer.from(fields.linkname)]);
  // Go's archive/tar moves ids that 7 octal digits cannot hold to pax records.
  if (fields.uid > octalMax(8)) records.push(['uid', Buffer.from(String(fields.uid))]);
  if (fields.gid > octalMax(8)) records.push(['gid', Buffer.from(String(fields.gid))]);
  if (fields.size > octalMax(12)) records.push(['size', Buffer.from(String(fields.size))]);
  for (const [name, value] of fields.xattrs) records.push([`SCHILY.xattr.${name}`, value]);
  const ustar = ustarBlock({
    name: nameFits ? fields.name : placeholder(fields.name),
    linkname: linkFits ? fields.linkname : placeholder(fields.linkname),
    type: typeFlags[fields.type],
    mode: fields.mode & 0o7777,
    uid: fields.uid > octalMax(8) ? 0 : fields.uid,
    gid: fields.gid > octalMax(8) ? 0 : fields.gid,
    size: fields.size,
    mtime: fields.mtime,
    devmajor: fields.devmajor,
    devminor: fields.devminor,
  });
  if (records.length === 0) return ustar;
  const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
  const pax = ustarBlock({
    name: placeholder(`PaxHeaders.0/${fields.name.replace(/\/$/, '').split('/').pop() ?? ''}`),
    linkname: '', type: 'x', mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: fields.mtime, devmajor: 0, devminor: 0,
  });
  return Buffer.concat([pax, body, tarPadding(body.length), ustar]);
}

/** The zero bytes that fill the last block of `size` data bytes. */
export function tarPadding(size: number): Buffer {
  const rest = size % tarBlockSize;
  return rest === 0 ? Buffer.alloc(0) : Buffer.alloc(tarBlockSize - rest);
}

/** True when ustar's 100-byte field holds `text` as it is (ASCII only, as Go's writer decides). */
function fitsUstar(text: string): boolean {
  return text.length <= 100 && /^[\x01-\x7f]*$/.test(text);
}

/** What the ustar field gets when a pax record holds the real value: ASCII, cut to fit. */
function placeholder(text: string): string {
  return text.replace(/[^\x01-\x7f]/g, '').slice(0, 100);
}

/** One pax record, `"<length> <key>=<value>\n"`, the length counting itself. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(` ${key}=\n`) + value.length;
  let length = rest + String(rest).length;
  if (String(length).length !== String(rest).length) length = rest + String(length).length;
  return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from('\n')]);
}

interface UstarFields {
  readonly name: string;
  readonly linkname: string;
  readonly type: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly devmajor: number;
  readonly devminor: number;
}

/** One ustar header block (POSIX.1-2017 pax "ustar Interchange Format"). */
function ustarBlock(f: UstarFields): Buffer {
  const block = Buffer.alloc(tarBlockSize);
  block.write(f.name, 0, 100, 'latin1');
  writeOctal(block, 100, 8, f.mode);
  writeOctal(block, 108, 8, f.uid);
  writeOctal(block, 116, 8, f.gid);
  writeSize(block, f.size);
  writeOctal(block, 136, 12, Math.min(f.mtime, octalMax(12)));
  block.write(f.type, 156, 1, 'latin1');
  block.write(f.linkname, 157, 100, 'latin1');
  block.write('ustar\0', 257, 6, 'latin1');
  block.write('00', 263, 2, 'latin1');
  writeOctal(block, 329, 8, f.devmajor);
  writeOctal(block, 337, 8, f.devminor);
  // The checksum is computed with its own field as eight spaces, and stored as six octal
  // digits, a NUL and a space (what Go and GNU tar write).
  block.fill(0x20, 148, 156);
  let sum = 0;
  for (const byte of block) sum += byte;
  block.write(`${sum.toString(8).padStart(6, '0')}\0`, 148, 7, 'latin1');
  return block;
}

/** A zero-padded octal number and its NUL in the field at `offset`. */
function writeOctal(block: Buffer, offset: number, width: number, value: number): void {
  if (!Number.isSafeInteger(value) || value < 0 || value > octalMax(width)) {
    throw new RangeError(`tar header: ${value} does not fit an octal field of ${width} bytes`);
  }
  block.write(`${value.toString(8).padStart(width - 1, '0')}\0`, offset, width, 'latin1');
}

/**
 * The size field: octal up to 8 GiB - 1, GNU base-256 beyond (then a pax `size` record
 * holds it too: pax readers take that, GNU-style readers the base-256 field).
 */
function writeSize(block: Buffer, size: number): void {
  if (size <= octalMax(12)) return writeOctal(block, 124, 12, size);
  block[124] = 0x80;
  let rest = size;
  for (let i = 11; i > 0; i--) {
    block[124 + i] = rest % 256;
    rest = Math.floor(rest / 256);
  }
}
