/**
 * A guard that sees the tar bytes before tar-stream does. It follows the archive's block
 * framing exactly as tar-stream 3 parses it (extract.js, headers.js) without copying file
 * data, so that it can:
 *
 *  - count the bytes of the stream against `maxUnpackedBytes` (a gzip bomb of zero blocks
 *    has no entries at all), and refuse an entry whose declared size would cross it before
 *    any of its data arrives;
 *  - refuse a PAX or GNU long-name header larger than its limit *before* tar-stream buffers
 *    it (tar-stream itself buffers up to 4 MiB);
 *  - keep each entry's PAX records as raw bytes: tar-stream decodes PAX values as UTF-8,
 *    which corrupts binary `SCHILY.xattr.*` values such as `security.capability`.
 *
 * Where tar-stream would fail (bad checksum, unknown format, an empty extended header that
 * its parser mishandles), the scanner stops following the framing and only counts bytes;
 * tar-stream then reports the error, and entries fall back to tar-stream's own PAX view.
 */
import { Transform, type TransformCallback } from 'node:stream';
import { limitExceeded, type UnpackLimits } from './limits.js';

const BLOCK = 512;
/** Typeflags (the header byte minus '0', as tar-stream computes it). */
const TYPE_FILE = 0;
const TYPE_DIR = 5;
const TYPE_PAX = 72; // 'x'
const TYPE_PAX_GLOBAL = 55; // 'g'
const TYPE_GNU_LONG_LINK = 27; // 'K'
const TYPE_GNU_LONG_PATH = 28; // 'L'
const TYPE_GNU_LONG_PATH_OLD = 30; // 'N'

/** Raw PAX records: key (UTF-8) to value bytes. */
export type PaxRecords = ReadonlyMap<string, Buffer>;

interface LongHeader {
  readonly keep: boolean;
  readonly global: boolean;
  readonly size: number;
  readonly chunks: Buffer[];
  got: number;
}

/** Follows the framing of one tar stream; see the module comment. */
export class TarScanner {
  readonly #limits: UnpackLimits;
  #total = 0;
  #lost = false;
  readonly #header = Buffer.alloc(BLOCK);
  #headerFill = 0;
  #skip = 0;
  #long: LongHeader | undefined;
  #paxLocal: Map<string, Buffer> | undefined;
  #paxGlobal: Map<string, Buffer> | undefined;
  readonly #paxByOffset = new Map<number, PaxRecords>();

  constructor(limits: UnpackLimits) {
    this.#limits = limits;
  }

  /** Bytes scanned so far. */
  get bytes(): number {
    return this.#total;
  }

  /** False once the scanner stopped following the framing (tar-stream will fail). */
  get tracking(): boolean {
    return !this.#lost;
  }

  /** Scans the next chunk. Throws LimitExceededError when a limit is crossed. */
  scan(chunk: Buffer): void {
    const base = this.#total;
    this.#total += chunk.length;
    const max = this.#limits.maxUnpackedBytes;
    if (this.#total > max) throw limitExceeded('maxUnpackedBytes', max, 'the uncompressed layer');
    let i = 0;
    while (i < chunk.length && !this.#lost) {
      if (this.#skip > 0) {
        const n = Math.min(this.#skip, chunk.length - i);
        this.#skip -= n;
        i += n;
      } else if (this.#long !== undefined) {
        i += this.#collect(chunk, i);
      } else {
        const n = Math.min(BLOCK - this.#headerFill, chunk.length - i);
        chunk.copy(this.#header, this.#headerFill, i, i + n);
        this.#headerFill += n;
        i += n;
        if (this.#headerFill === BLOCK) {
          this.#headerFill = 0;
          this.#onHeader(base + i - BLOCK);
        }
      }
    }
  }

  /**
   * The raw PAX records of the entry whose header starts at `offset`, if it had any and the
   * scanner followed it. Records of earlier offsets are dropped: entries arrive in order.
   */
  takePax(offset: number): PaxRecords | undefined {
    for (const key of this.#paxByOffset.keys()) {
      if (key >= offset) break;
      this.#paxByOffset.delete(key);
    }
    const records = this.#paxByOffset.get(offset);
    this.#paxByOffset.delete(offset);
    return records;
  }

  #collect(chunk: Buffer, i: number): number {
    const long = this.#long as LongHeader;
    const n = Math.min(long.size - long.got, chunk.length - i);
    if (long.keep) long.chunks.push(chunk.subarray(i, i + n));
    long.got += n;
    if (long.got === long.size) {
      this.#long = undefined;
      this.#skip = padding(long.size);
      if (long.keep) {
        const records = decodePax(Buffer.concat(long.chunks, long.size));
        // extract.js: _pax = _paxGlobal === null ? decode(buf) : Object.assign({}, _paxGlobal, decode(buf))
        if (long.global) this.#paxGlobal = records;
        else this.#paxLocal = this.#paxGlobal === undefined ? records : new Map([...this.#paxGlobal, ...records]);
      }
    }
    return n;
  }

  #onHeader(offset: number): void {
    const buf = this.#header;
    const sum = checksum(buf);
    if (sum === 8 * 32) return; // an all-zero block: tar-stream skips it (end-of-archive padding)
    if (sum !== decodeOct(buf, 148, 8) || !(isUstar(buf) || isGnu(buf))) {
      this.#lost = true;
      return;
    }
    const typeflag = buf[156] === 0 ? 0 : (buf[156] ?? 0) - 48;
    const size = decodeOct(buf, 124, 12);
    if (!(size !== null && size >= 0)) {
      this.#lost = true;
      return;
    }
    switch (typeflag) {
      case TYPE_PAX:
      case TYPE_PAX_GLOBAL:
        this.#startLong(size, true, typeflag === TYPE_PAX_GLOBAL, 'maxPaxHeaderBytes', this.#limits.maxPaxHeaderBytes);
        return;
      case TYPE_GNU_LONG_LINK:
      case TYPE_GNU_LONG_PATH:
      case TYPE_GNU_LONG_PATH_OLD:
        // The exact check is on the decoded name; this one only bounds what tar-stream buffers.
        this.#startLong(size, false, false, 'maxPathBytes', this.#limits.maxPathBytes + BLOCK);
        return;
      default:
        this.#onEntry(buf, typeflag, size, offset);
    }
  }

  #startLong(size: number, keep: boolean, global: boolean, limit: 'maxPaxHeaderBytes' | 'maxPathBytes', max: number): void {
    if (size > max) {
      const value = this.#limits[limit];
      throw limitExceeded(limit, value, limit === 'maxPaxHeaderBytes' ? `a PAX header of ${size} bytes` : `a GNU long name of ${size} bytes`);
    }
    // tar-stream never decodes an empty extended header and then misframes what follows.
    if (size === 0) this.#lost = true;
    else this.#long = { keep, global, size, chunks: [], got: 0 };
  }

  #onEntry(buf: Buffer, typeflag: number, headerSize: number, offset: number): void {
    let size = headerSize;
    const pax = this.#paxLocal;
    if (pax !== undefined) {
      // extract.js _applyLongHeaders: `if (this._pax.size) header.size = parseInt(this._pax.size, 10)`
      const paxSize = pax.get('size');
      if (paxSize !== undefined && paxSize.length > 0) size = parseInt(paxSize.toString('utf8'), 10);
      this.#paxByOffset.set(offset, pax);
      this.#paxLocal = undefined;
    }
    if (!(size >= 0)) {
      this.#lost = true;
      return;
    }
    // headers.js: an old-style regular file whose name ends in "/" is a directory, and
    // extract.js gives directories no data whatever their size says.
    if (size === 0 || typeflag === TYPE_DIR || (typeflag === TYPE_FILE && nameEndsWithSlash(buf))) return;
    const end = offset + BLOCK + size;
    const max = this.#limits.maxUnpackedBytes;
    if (end > max) throw limitExceeded('maxUnpackedBytes', max, `the uncompressed layer (an entry of ${size} bytes)`);
    this.#skip = size + padding(size);
  }
}

/** A pass-through Transform that feeds every chunk to `scanner` first. */
export function createScanTransform(scanner: TarScanner): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
      try {
        scanner.scan(chunk);
      } catch (err) {
        callback(err as Error);
        return;
      }
      callback(null, chunk);
    },
  });
}

/** headers.js decodePax, keeping values as bytes. */
export function decodePax(input: Buffer): Map<string, Buffer> {
  const result = new Map<string, Buffer>();
  let buf = input;
  while (buf.length > 0) {
    let i = 0;
    while (i < buf.length && buf[i] !== 32) i++;
    const len = parseInt(buf.subarray(0, i).toString('utf8'), 10);
    if (!len) return result;
    const record = buf.subarray(i + 1, len - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) return result;
    result.set(record.subarray(0, eq).toString('utf8'), record.subarray(eq + 1));
    buf = buf.subarray(len);
  }
  return result;
}

function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

function checksum(block: Buffer): number {
  let sum = 8 * 32;
  for (let i = 0; i < 148; i++) sum += block[i] ?? 0;
  for (let i = 156; i < BLOCK; i++) sum += block[i] ?? 0;
  return sum;
}

const USTAR_MAGIC = Buffer.from('ustar\0', 'latin1');
const GNU_MAGIC = Buffer.from('ustar ', 'latin1');
const GNU_VERSION = Buffer.from(' \0', 'latin1');

function isUstar(block: Buffer): boolean {
  return block.subarray(257, 263).equals(USTAR_MAGIC);
}

function isGnu(block: Buffer): boolean {
  return block.subarray(257, 263).equals(GNU_MAGIC) && block.subarray(263, 265).equals(GNU_VERSION);
}

function nameEndsWithSlash(block: Buffer): boolean {
  let end = block.indexOf(0);
  if (end < 0 || end > 100) end = 100;
  if (end > 0) return block[end - 1] === 0x2f;
  // headers.js: a USTAR prefix turns the name into "<prefix>/<name>".
  return isUstar(block) && block[345] !== 0;
}

/** headers.js decodeOct, base-256 included; null where tar-stream's parse256 gives null. */
function decodeOct(block: Buffer, offset: number, length: number): number | null {
  const val = block.subarray(offset, offset + length);
  if (((val[0] ?? 0) & 0x80) !== 0) return parse256(val);
  let start = 0;
  while (start < val.length && val[start] === 32) start++;
  let end = val.indexOf(32, start);
  if (end < 0) end = val.length;
  while (start < end && val[start] === 0) start++;
  if (end === start) return 0;
  return parseInt(val.subarray(start, end).toString('utf8'), 8);
}

function parse256(val: Buffer): number | null {
  const positive = val[0] === 0x80;
  if (!positive && val[0] !== 0xff) return null;
  let sum = 0;
  for (let i = 1; i < val.length; i++) {
    const byte = val[i] ?? 0;
    sum = sum * 256 + (positive ? byte : 0xff - byte);
  }
  return positive ? sum : -sum;
}
