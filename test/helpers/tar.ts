/**
 * A small, exact tar writer for layer fixtures (POSIX pax over ustar, as GNU tar and
 * Docker write them). It writes names verbatim, so tests can also build hostile archives
 * (`../x`, absolute names, hardlinks out of the tree). Spec: POSIX.1-2017 `pax`,
 * "ustar Interchange Format" and "pax Extended Header"; xattrs as GNU tar/Docker write
 * them, `SCHILY.xattr.<name>` records (docker/docker pkg/archive).
 */

/** Fields every entry shares. Defaults: mode 0644 (0755 for dirs), uid/gid 0, mtime 2024-01-01. */
export interface TarEntryBase {
  /** Path in the archive, written as given (a trailing `/` is added for directories). */
  readonly path: string;
  readonly mode?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly uname?: string;
  readonly gname?: string;
  /** Seconds since the epoch. */
  readonly mtime?: number;
  /** Extended attributes, written as `SCHILY.xattr.<name>` pax records. */
  readonly xattrs?: Readonly<Record<string, string | Buffer>>;
  /** Extra raw pax records, for tests of unusual headers. */
  readonly pax?: Readonly<Record<string, string | Buffer>>;
}

/** One archive entry. Hardlink `target` names an earlier entry of the same archive. */
export type TarEntry =
  | (TarEntryBase & { readonly type: 'dir' })
  | (TarEntryBase & { readonly type: 'file'; readonly content: string | Buffer })
  | (TarEntryBase & { readonly type: 'symlink'; readonly target: string })
  | (TarEntryBase & { readonly type: 'hardlink'; readonly target: string })
  | (TarEntryBase & { readonly type: 'char' | 'block'; readonly major: number; readonly minor: number })
  | (TarEntryBase & { readonly type: 'fifo' });

/** 2024-01-01T00:00:00Z, the default mtime, so fixtures are reproducible. */
export const fixtureEpoch = 1_704_067_200;

const block = 512;
const typeFlags: Readonly<Record<TarEntry['type'], string>> = {
  file: '0',
  hardlink: '1',
  symlink: '2',
  char: '3',
  block: '4',
  dir: '5',
  fifo: '6',
};

/** Builds a whole archive, ending with the two zero blocks of the end-of-archive marker. */
export function buildTar(entries: readonly TarEntry[]): Buffer {
  const parts: Buffer[] = [];
  for (const entry of entries) parts.push(...entryBlocks(entry));
  parts.push(Buffer.alloc(2 * block));
  return Buffer.concat(parts);
}

function entryBlocks(entry: TarEntry): Buffer[] {
  const name = entry.type === 'dir' && !entry.path.endsWith('/') ? `${entry.path}/` : entry.path;
  const linkName = entry.type === 'symlink' || entry.type === 'hardlink' ? entry.target : '';
  const content = entry.type === 'file' ? Buffer.from(entry.content) : Buffer.alloc(0);
  const uid = entry.uid ?? 0;
  const gid = entry.gid ?? 0;
  const records: [string, Buffer][] = [];
  // pax overrides what ustar cannot hold: long or non-ASCII names, large ids.
  if (Buffer.byteLength(name) > 100 || !isAscii(name)) records.push(['path', Buffer.from(name)]);
  if (Buffer.byteLength(linkName) > 100 || !isAscii(linkName)) records.push(['linkpath', Buffer.from(linkName)]);
  if (uid > 0o7777777) records.push(['uid', Buffer.from(String(uid))]);
  if (gid > 0o7777777) records.push(['gid', Buffer.from(String(gid))]);
  for (const [key, value] of Object.entries(entry.xattrs ?? {})) records.push([`SCHILY.xattr.${key}`, Buffer.from(value)]);
  for (const [key, value] of Object.entries(entry.pax ?? {})) records.push([key, Buffer.from(value)]);

  const out: Buffer[] = [];
  if (records.length > 0) {
    const body = Buffer.concat(records.map(([key, value]) => paxRecord(key, value)));
    out.push(header({ name: paxName(name), mode: 0o644, uid: 0, gid: 0, size: body.length, mtime: 0, type: 'x' }));
    out.push(body, padding(body.length));
  }
  const isDevice = entry.type === 'char' || entry.type === 'block';
  out.push(
    header({
      name: truncateUtf8(name, 100),
      mode: entry.mode ?? (entry.type === 'dir' ? 0o755 : 0o644),
      uid: Math.min(uid, 0o7777777),
      gid: Math.min(gid, 0o7777777),
      size: content.length,
      mtime: entry.mtime ?? fixtureEpoch,
      type: typeFlags[entry.type],
      linkName: truncateUtf8(linkName, 100),
      uname: entry.uname ?? (uid === 0 ? 'root' : ''),
      gname: entry.gname ?? (gid === 0 ? 'root' : ''),
      major: isDevice ? entry.major : 0,
      minor: isDevice ? entry.minor : 0,
    }),
  );
  if (content.length > 0) out.push(content, padding(content.length));
  return out;
}

interface HeaderFields {
  readonly name: string;
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly size: number;
  readonly mtime: number;
  readonly type: string;
  readonly linkName?: string;
  readonly uname?: string;
  readonly gname?: string;
  readonly major?: number;
  readonly minor?: number;
}

function header(fields: HeaderFields): Buffer {
  const buf = Buffer.alloc(block);
  buf.write(fields.name, 0, 100, 'utf8');
  writeOctal(buf, fields.mode & 0o7777, 100, 8);
  writeOctal(buf, fields.uid, 108, 8);
  writeOctal(buf, fields.gid, 116, 8);
  writeOctal(buf, fields.size, 124, 12);
  writeOctal(buf, fields.mtime, 136, 12);
  buf.write(fields.type, 156, 1, 'ascii');
  buf.write(fields.linkName ?? '', 157, 100, 'utf8');
  buf.write('ustar\u000000', 257, 8, 'ascii');
  buf.write(fields.uname ?? '', 265, 32, 'utf8');
  buf.write(fields.gname ?? '', 297, 32, 'utf8');
  writeOctal(buf, fields.major ?? 0, 329, 8);
  writeOctal(buf, fields.minor ?? 0, 337, 8);
  // The checksum is computed with its own field taken as eight spaces.
  buf.fill(' ', 148, 156);
  let sum = 0;
  for (const byte of buf) sum += byte;
  buf.write(`${sum.toString(8).padStart(6, '0')}\u0000 `, 148, 8, 'ascii');
  return buf;
}

function writeOctal(buf: Buffer, value: number, offset: number, length: number): void {
  const text = Math.trunc(value).toString(8).padStart(length - 1, '0');
  if (text.length > length - 1) throw new RangeError(`Value ${value} does not fit a ${length}-byte tar field`);
  buf.write(`${text}\u0000`, offset, length, 'ascii');
}

/** A pax record: "<length> <key>=<value>\n", where length counts the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  const rest = Buffer.byteLength(` ${key}=`) + value.length + 1;
  let length = rest + String(rest).length;
  if (String(length).length !== String(rest).length) length = rest + String(length).length;
  return Buffer.concat([Buffer.from(`${length} ${key}=`), value, Buffer.from('\n')]);
}

function paxName(name: string): string {
  const trimmed = name.replace(/\/+$/, '');
  const base = trimmed.slice(trimmed.lastIndexOf('/') + 1) || 'root';
  return truncateUtf8(`PaxHeaders.0/${base}`, 100);
}

function truncateUtf8(text: string, bytes: number): string {
  let out = text;
  while (Buffer.byteLength(out) > bytes) out = out.slice(0, -1);
  return out;
}

function isAscii(text: string): boolean {
  return /^[\x20-\x7e]*$/.test(text);
}

function padding(length: number): Buffer {
  return Buffer.alloc((block - (length % block)) % block);
}
