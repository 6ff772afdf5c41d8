/**
 * The DNS wire format, as much of it as berth's responder needs (RFC 1035 §4, RFC 6891
 * for the EDNS payload size): parse a query, build an answer with A or PTR records, check
 * that an upstream's reply belongs to a query. Parsers take untrusted bytes: they never
 * throw, bound their work by the buffer's length, and follow at most a few compression
 * pointers, each strictly backwards (so a loop is impossible).
 */
import { isIPv4 } from 'node:net';
import { InvalidArgumentError } from '../common/errors.js';

/** Record types (RFC 1035 §3.2.2, RFC 3596, RFC 6891). */
export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
export const TYPE_OPT = 41;
export const TYPE_ANY = 255;
/** The Internet class. */
export const CLASS_IN = 1;

/** Response codes (RFC 1035 §4.1.1). */
export const Rcode = {
  noError: 0,
  formErr: 1,
  servFail: 2,
  nxDomain: 3,
  notImp: 4,
  refused: 5,
} as const;

/** The TTL of berth's own answers: docker's embedded DNS uses 600 s. */
export const ANSWER_TTL = 600;
/** The largest UDP message without EDNS (RFC 1035 §4.2.1); also the largest UDP query berth reads. */
export const MAX_UDP_MESSAGE = 512;
/** Questions per query: every resolver sends one (RFC 9619); more is treated as malformed. */
export const MAX_QUESTIONS = 1;

const FLAG_QR = 0x8000;
const FLAG_AA = 0x0400;
const FLAG_TC = 0x0200;
const FLAG_RD = 0x0100;
const FLAG_RA = 0x0080;
const OPCODE_MASK = 0x7800;
/** Compression pointers followed per name; real messages need one. */
const MAX_POINTERS = 8;
const MAX_NAME_LENGTH = 255;
const MAX_LABEL_LENGTH = 63;

/** One question, its name in presentation form without the trailing dot ("" is the root). */
export interface DnsQuestion {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

/** A parsed query. */
export interface DnsQuery {
  readonly id: number;
  /** The header's second 16 bits: QR, opcode, AA, TC, RD, RA, Z, rcode. */
  readonly flags: number;
  readonly questions: readonly DnsQuestion[];
  /** The largest UDP reply the client takes: its EDNS payload size, at least 512 (RFC 6891 §6.2.5). */
  readonly udpSize: number;
}

/** A record of berth's own answers; its owner is the first question's name. */
export type DnsRecord =
  | { readonly type: typeof TYPE_A; readonly address: string }
  | { readonly type: typeof TYPE_PTR; readonly target: string };

/** What {@link buildResponse} puts in a reply. */
export interface ResponseOptions {
  /** Default NOERROR. */
  readonly rcode?: number;
  readonly records?: readonly DnsRecord[];
  /** Sets AA: berth answers for its containers' names itself. */
  readonly authoritative?: boolean;
  /** When the reply would be larger, its records are left out and TC is set (RFC 2181 §9). */
  readonly maxSize?: number;
}

/** A byte of a label in presentation form: `.` and `\` escaped, others outside printable ASCII as `\DDD`. */
function presentByte(b: number): string {
  if (b === 0x2e || b === 0x5c) return `\\${String.fromCharCode(b)}`;
  if (b <= 0x20 || b >= 0x7f) return `\\${String(b).padStart(3, '0')}`;
  return String.fromCharCode(b);
}

/** Reads a possibly compressed name at `offset`; undefined when malformed. */
function readName(buf: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let pos = offset;
  let end: number | undefined;
  let pointers = 0;
  let limit = offset;
  let length = 1;
  for (;;) {
    const len = buf[pos];
    if (len === undefined) return undefined;
    if (len === 0) break;
    const kind = len & 0xc0;
    if (kind === 0xc0) {
      const low = buf[pos + 1];
      if (low === undefined || ++pointers > MAX_POINTERS) return undefined;
      const target = ((len & 0x3f) << 8) | low;
      // A pointer names a prior occurrence (RFC 1035 §4.1.4), never the header: each one
      // must point before where the name, or the previous pointer's target, began, so no
      // loop can be built.
      if (target >= limit || target < 12) return undefined;
      end ??= pos + 2;
      pos = target;
      limit = target;
      continue;
    }
    // 0x40 and 0x80 are extended or obsolete label types (RFC 6891 §5): not supported.
    if (kind !== 0 || pos + 1 + len > buf.length) return undefined;
    length += len + 1;
    if (length > MAX_NAME_LENGTH) return undefined;
    let label = '';
    for (let i = pos + 1; i <= pos + len; i++) label += presentByte(buf[i] ?? 0);
    labels.push(label);
    pos += 1 + len;
  }
  return { name: labels.join('.'), end: end ?? pos + 1 };
}

/** Skips a resource record at `pos`; returns its type, class and where it ends, or undefined. */
function readRecord(buf: Buffer, pos: number): { type: number; class: number; end: number } | undefined {
  const name = readName(buf, pos);
  if (name === undefined || name.end + 10 > buf.length) return undefined;
  const end = name.end + 10 + buf.readUInt16BE(name.end + 8);
  if (end > buf.length) return undefined;
  return { type: buf.readUInt16BE(name.end), class: buf.readUInt16BE(name.end + 2), end };
}

interface Message {
  readonly id: number;
  readonly flags: number;
  readonly questions: DnsQuestion[];
  readonly udpSize: number;
}

/** Parses a message's header, questions and, for the EDNS payload size, its other records. */
function parseMessage(buf: Buffer): Message | undefined {
  if (buf.length < 12) return undefined;
  const qdcount = buf.readUInt16BE(4);
  if (qdcount > MAX_QUESTIONS) return undefined;
  const questions: DnsQuestion[] = [];
  let pos = 12;
  for (let i = 0; i < qdcount; i++) {
    const name = readName(buf, pos);
    if (name === undefined || name.end + 4 > buf.length) return undefined;
    questions.push({ name: name.name, type: buf.readUInt16BE(name.end), class: buf.readUInt16BE(name.end + 2) });
    pos = name.end + 4;
  }
  let udpSize = MAX_UDP_MESSAGE;
  // Each record takes at least 11 bytes, so this loop is bounded by the buffer's length.
  const records = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10);
  for (let i = 0; i < records; i++) {
    const rr = readRecord(buf, pos);
    if (rr === undefined) return undefined;
    // OPT's class is the sender's UDP payload size; below 512 means 512 (RFC 6891 §6.2.5).
    if (rr.type === TYPE_OPT) udpSize = Math.max(MAX_UDP_MESSAGE, rr.class);
    pos = rr.end;
  }
  return { id: buf.readUInt16BE(0), flags: buf.readUInt16BE(2), questions, udpSize };
}

/**
 * Parses a query: header, exactly one question (name in presentation form, case kept),
 * and the client's EDNS UDP size. Undefined for anything malformed: shorter than a
 * header, a response, no or too many questions, a name or record past the end, a label
 * type other than plain, a name over 255 bytes, a compression pointer that is not
 * strictly backwards. Other opcodes than QUERY parse; the caller answers them NOTIMP.
 */
export function parseQuery(buf: Buffer): DnsQuery | undefined {
  const message = parseMessage(buf);
  if (message === undefined || (message.flags & FLAG_QR) !== 0 || message.questions.length === 0) return undefined;
  return message;
}

/** The opcode of a query (0 is QUERY). */
export function opcodeOf(query: DnsQuery): number {
  return (query.flags & OPCODE_MASK) >> 11;
}

/** Whether a reply has the TC bit: it was cut to fit UDP, and TCP would give all of it. */
export function isTruncated(reply: Buffer): boolean {
  return reply.length >= 4 && (reply.readUInt16BE(2) & FLAG_TC) !== 0;
}

/** The rcode of a reply (its low four bits; extended rcodes are not needed here). */
export function rcodeOf(reply: Buffer): number {
  return reply.length >= 4 ? reply.readUInt16BE(2) & 0xf : Rcode.formErr;
}

/**
 * Whether `reply` is a well-formed response to `query`: same id, QR set, and the same
 * question (names compared case-insensitively), or no question at all with an error
 * rcode, as some servers send for FORMERR and SERVFAIL. The check RFC 5452 §9.1 asks of
 * a forwarder before it relays an answer.
 */
export function isReplyTo(reply: Buffer, query: DnsQuery): boolean {
  const message = parseMessage(reply);
  if (message === undefined || message.id !== query.id || (message.flags & FLAG_QR) === 0) return false;
  if (message.questions.length === 0) return (message.flags & 0xf) !== Rcode.noError;
  const a = message.questions[0];
  const b = query.questions[0];
  return a !== undefined && b !== undefined && a.type === b.type && a.class === b.class && asciiLower(a.name) === asciiLower(b.name);
}

/** DNS names compare case-insensitively in ASCII only (RFC 4343). */
export function asciiLower(name: string): string {
  return name.replace(/[A-Z]+/g, (s) => s.toLowerCase());
}

/**
 * A name in presentation form (escapes as {@link parseQuery} writes them) in wire form.
 * Throws InvalidArgumentError for an empty label, a label over 63 bytes or a name over 255.
 */
export function encodeName(name: string): Buffer {
  const out: number[] = [];
  let label: number[] = [];
  const flush = (): void => {
    if (label.length === 0 || label.length > MAX_LABEL_LENGTH) throw new InvalidArgumentError(`Cannot encode the DNS name "${name}": a label is empty or longer than ${MAX_LABEL_LENGTH} bytes`);
    out.push(label.length, ...label);
    label = [];
  };
  const root = name === '' || name === '.';
  for (let i = 0; i < name.length && !root; i++) {
    const c = name.charCodeAt(i);
    if (c === 0x2e) {
      flush();
      // A final dot only says that the name is absolute.
      if (i === name.length - 1) break;
    } else if (c === 0x5c) {
      const digits = /^\d{3}/.exec(name.slice(i + 1))?.[0];
      label.push(digits === undefined ? name.charCodeAt(i + 1) & 0xff : Number(digits) & 0xff);
      i += digits === undefined ? 1 : 3;
    } else {
      label.push(c & 0xff);
    }
    if (i >= name.length - 1) flush();
  }
  out.push(0);
  if (out.length > MAX_NAME_LENGTH) throw new InvalidArgumentError(`Cannot encode the DNS name "${name}": it is longer than ${MAX_NAME_LENGTH} bytes`);
  return Buffer.from(out);
}

function encodeRecord(record: DnsRecord): Buffer {
  if (record.type === TYPE_A && !isIPv4(record.address)) throw new InvalidArgumentError(`Cannot encode an A record for "${record.address}": not an IPv4 address`);
  const rdata = record.type === TYPE_A ? Buffer.from(record.address.split('.').map(Number)) : encodeName(record.target);
  const head = Buffer.alloc(12);
  head.writeUInt16BE(0xc00c, 0); // the first question's name, at offset 12
  head.writeUInt16BE(record.type, 2);
  head.writeUInt16BE(CLASS_IN, 4);
  head.writeUInt32BE(ANSWER_TTL, 6);
  head.writeUInt16BE(rdata.length, 10);
  return Buffer.concat([head, rdata]);
}

/**
 * A response to `query`: its id, opcode, RD and questions echoed (names as asked, so the
 * case a client chose comes back), RA set, and the given rcode and records. Throws
 * InvalidArgumentError for a record it cannot encode.
 */
export function buildResponse(query: DnsQuery, options: ResponseOptions = {}): Buffer {
  const questions = query.questions.map((q) => {
    const fields = Buffer.alloc(4);
    fields.writeUInt16BE(q.type, 0);
    fields.writeUInt16BE(q.class, 2);
    return Buffer.concat([encodeName(q.name), fields]);
  });
  let records = (options.records ?? []).map(encodeRecord);
  let truncated = false;
  const size = (): number => 12 + [...questions, ...records].reduce((n, b) => n + b.length, 0);
  if (options.maxSize !== undefined && size() > options.maxSize) {
    records = [];
    truncated = true;
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.id, 0);
  const flags = FLAG_QR | (query.flags & OPCODE_MASK) | (options.authoritative === true ? FLAG_AA : 0) | (truncated ? FLAG_TC : 0) | (query.flags & FLAG_RD) | FLAG_RA | ((options.rcode ?? Rcode.noError) & 0xf);
  header.writeUInt16BE(flags, 2);
  header.writeUInt16BE(questions.length, 4);
  header.writeUInt16BE(records.length, 6);
  return Buffer.concat([header, ...questions, ...records]);
}

/** "4.3.2.1.in-addr.arpa" (any case) → "1.2.3.4"; undefined for any other name (RFC 1035 §3.5). */
export function reverseAddress(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/i.exec(name);
  if (m === null) return undefined;
  const address = [m[4], m[3], m[2], m[1]].join('.');
  return isIPv4(address) ? address : undefined;
}

/** A message with the 2-byte length prefix of DNS over TCP (RFC 1035 §4.2.2). */
export function frameTcp(message: Buffer): Buffer {
  const framed = Buffer.alloc(2 + message.length);
  framed.writeUInt16BE(message.length, 0);
  message.copy(framed, 2);
  return framed;
}
