/**
 * berth's DNS responder for user networks (docker's embedded DNS, podman's aardvark-dns):
 * UDP and TCP on port 53 of each network's gateway address. Names of containers on the
 * network the query arrived on (a {@link DnsSource} tells) are answered here; everything
 * else goes to upstream resolvers and their reply is relayed unchanged. Only what it needs
 * of RFC 1035: one question, A and PTR answers, compression pointers when reading names.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, type Server } from 'node:net';

/** What the responder asks about a query; berth answers from its metadata database. */
export interface DnsSource {
  /**
   * IPv4 addresses of `name` (lowercased, no trailing dot) for a client at `client` asking
   * the server at `server` (the gateway address the query arrived at); undefined when the
   * name is not a container's on that network (then the query is forwarded).
   */
  lookup(name: string, client: string, server: string): readonly string[] | undefined;
  /** The container name for an IPv4 address on that network, or undefined. */
  reverse(address: string, client: string, server: string): string | undefined;
  /** Upstream resolvers ("ip" or "ip:port") for this client; [] means none (an internal network). */
  upstreams(client: string, server: string): readonly string[];
}

export const TYPE_A = 1;
export const TYPE_PTR = 12;
export const TYPE_AAAA = 28;
const CLASS_IN = 1;
const RCODE_SERVFAIL = 2;
const RCODE_NXDOMAIN = 3;
/** docker's embedded DNS answers with a TTL of 600 s. */
const TTL = 600;
const MAX_UDP = 512;

export interface DnsQuestion {
  readonly name: string;
  readonly type: number;
  readonly class: number;
}

export interface DnsQuery {
  readonly id: number;
  readonly flags: number;
  readonly questions: readonly DnsQuestion[];
  /** Where the question section ends (answers are appended to a copy of what precedes it). */
  readonly questionEnd: number;
}

/** Reads a (possibly compressed) name at `offset`; undefined when malformed. */
function readName(buf: Buffer, offset: number): { name: string; end: number } | undefined {
  const labels: string[] = [];
  let pos = offset;
  let end: number | undefined;
  let jumps = 0;
  let length = 0;
  for (;;) {
    if (pos >= buf.length) return undefined;
    const len = buf[pos] ?? 0;
    if (len === 0) {
      end ??= pos + 1;
      break;
    }
    if ((len & 0xc0) === 0xc0) {
      if (pos + 1 >= buf.length || ++jumps > 16) return undefined;
      end ??= pos + 2;
      pos = ((len & 0x3f) << 8) | (buf[pos + 1] ?? 0);
      continue;
    }
    if ((len & 0xc0) !== 0 || pos + 1 + len > buf.length) return undefined;
    length += len + 1;
    if (length > 255) return undefined;
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  return { name: labels.join('.'), end };
}

/** Parses a query's header and questions; undefined when it is not a well-formed query. */
export function parseQuery(buf: Buffer): DnsQuery | undefined {
  if (buf.length < 12) return undefined;
  const id = buf.readUInt16BE(0);
  const flags = buf.readUInt16BE(2);
  if ((flags & 0x8000) !== 0) return undefined; // a response, not a query
  const qdcount = buf.readUInt16BE(4);
  if (qdcount === 0 || qdcount > 4) return undefined;
  const questions: DnsQuestion[] = [];
  let pos = 12;
  for (let i = 0; i < qdcount; i++) {
    const name = readName(buf, pos);
    if (name === undefined || name.end + 4 > buf.length) return undefined;
    questions.push({ name: name.name, type: buf.readUInt16BE(name.end), class: buf.readUInt16BE(name.end + 2) });
    pos = name.end + 4;
  }
  return { id, flags, questions, questionEnd: pos };
}

function encodeName(name: string): Buffer {
  const parts = name === '' ? [] : name.split('.');
  return Buffer.concat([...parts.map((p) => Buffer.concat([Buffer.from([Math.min(p.length, 63)]), Buffer.from(p.slice(0, 63), 'latin1')])), Buffer.from([0])]);
}

/**
 * A response to `query` (its id, question, and RD echoed; RA set) with `rcode` and the
 * answers: IPv4 addresses for A, a name for PTR.
 */
export function buildResponse(request: Buffer, query: DnsQuery, rcode: number, answers: { addresses?: readonly string[]; ptr?: string }): Buffer {
  const question = request.subarray(12, query.questionEnd);
  const records: Buffer[] = [];
  for (const a of answers.addresses ?? []) {
    const rr = Buffer.alloc(16);
    rr.writeUInt16BE(0xc00c, 0); // the question's name
    rr.writeUInt16BE(TYPE_A, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(4, 10);
    a.split('.').forEach((b, i) => rr.writeUInt8(Number(b) & 255, 12 + i));
    records.push(rr);
  }
  if (answers.ptr !== undefined) {
    const name = encodeName(answers.ptr);
    const rr = Buffer.alloc(12);
    rr.writeUInt16BE(0xc00c, 0);
    rr.writeUInt16BE(TYPE_PTR, 2);
    rr.writeUInt16BE(CLASS_IN, 4);
    rr.writeUInt32BE(TTL, 6);
    rr.writeUInt16BE(name.length, 10);
    records.push(rr, name);
  }
  const header = Buffer.alloc(12);
  header.writeUInt16BE(query.id, 0);
  // QR, opcode 0, AA, RD as asked, RA, rcode.
  header.writeUInt16BE(0x8000 | 0x0400 | (query.flags & 0x0100) | 0x0080 | (rcode & 0xf), 2);
  header.writeUInt16BE(query.questions.length, 4);
  header.writeUInt16BE((answers.addresses?.length ?? 0) + (answers.ptr === undefined ? 0 : 1), 6);
  return Buffer.concat([header, question, ...records]);
}

/** "4.3.2.1.in-addr.arpa" → "1.2.3.4"; undefined for other names. */
function reverseAddress(name: string): string | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.in-addr\.arpa$/.exec(name);
  return m === null ? undefined : [m[4], m[3], m[2], m[1]].join('.');
}

function hostPort(upstream: string): { host: string; port: number } {
  const [host = '', port] = upstream.split(':');
  return { host, port: port === undefined ? 53 : Number(port) };
}

interface Listener {
  readonly udp: Socket;
  readonly tcp: Server;
}

/** The responder: see the module comment. */
export class DnsServer {
  readonly #source: DnsSource;
  readonly #timeout: number;
  readonly #log: (line: string) => void;
  readonly #listeners = new Map<string, Listener>();

  constructor(source: DnsSource, options: { upstreamTimeoutMs?: number; log?: (line: string) => void } = {}) {
    this.#source = source;
    this.#timeout = options.upstreamTimeoutMs ?? 2000;
    this.#log = options.log ?? (() => undefined);
  }

  /** The addresses listened on now. */
  get addresses(): readonly string[] {
    return [...this.#listeners.keys()];
  }

  /** The UDP port bound on `address` (for port 0 in tests). */
  port(address: string): number | undefined {
    return this.#listeners.get(address)?.udp.address().port;
  }

  /**
   * Listens (UDP and TCP) on each address not yet listened on, and stops on those no longer
   * given. Rejects naming the first address that could not be bound; the others stay.
   */
  async listen(addresses: readonly string[], port = 53): Promise<void> {
    for (const [a, l] of this.#listeners) {
      if (!addresses.includes(a)) {
        this.#listeners.delete(a);
        await closeListener(l);
      }
    }
    let failure: Error | undefined;
    for (const a of addresses) {
      if (this.#listeners.has(a)) continue;
      try {
        this.#listeners.set(a, await this.#bind(a, port));
      } catch (err) {
        failure ??= new Error(`DNS: cannot listen on ${a}:${port}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    if (failure !== undefined) throw failure;
  }

  async #bind(address: string, port: number): Promise<Listener> {
    const udp = createSocket({ type: 'udp4' });
    await new Promise<void>((resolve, reject) => {
      udp.once('error', reject);
      udp.bind(port, address, () => {
        udp.off('error', reject);
        resolve();
      });
    });
    udp.on('error', (err) => this.#log(`DNS udp ${address}: ${err.message}`));
    udp.on('message', (msg, rinfo) => {
      if (msg.length > MAX_UDP) return;
      void this.#answer(msg, rinfo.address, address, false).then((reply) => {
        if (reply !== undefined) udp.send(reply, rinfo.port, rinfo.address);
      });
    });
    const boundPort = udp.address().port;
    const tcp = createServer((socket) => {
      socket.setTimeout(10_000, () => socket.destroy());
      let pending = Buffer.alloc(0);
      socket.on('error', () => socket.destroy());
      socket.on('data', (chunk: Buffer) => {
        pending = Buffer.concat([pending, chunk]);
        while (pending.length >= 2) {
          const len = pending.readUInt16BE(0);
          if (pending.length < 2 + len) break;
          const msg = pending.subarray(2, 2 + len);
          pending = pending.subarray(2 + len);
          void this.#answer(msg, socket.remoteAddress ?? '', address, true).then((reply) => {
            if (reply === undefined) {
              socket.destroy();
              return;
            }
            const framed = Buffer.alloc(2 + reply.length);
            framed.writeUInt16BE(reply.length, 0);
            reply.copy(framed, 2);
            socket.write(framed);
          });
        }
      });
    });
    try {
      await new Promise<void>((resolve, reject) => {
        tcp.once('error', reject);
        tcp.listen(boundPort, address, () => {
          tcp.off('error', reject);
          resolve();
        });
      });
    } catch (err) {
      udp.close();
      throw err;
    }
    tcp.on('error', (err) => this.#log(`DNS tcp ${address}: ${err.message}`));
    return { udp, tcp };
  }

  /** The reply to one message, or undefined to drop it. */
  async #answer(msg: Buffer, client: string, server: string, tcp: boolean): Promise<Buffer | undefined> {
    const query = parseQuery(msg);
    const q = query?.questions[0];
    if (query === undefined || q === undefined) return undefined;
    try {
      const name = q.name.toLowerCase().replace(/\.$/, '');
      if (q.class === CLASS_IN && query.questions.length === 1) {
        const reverse = q.type === TYPE_PTR ? reverseAddress(name) : undefined;
        const ptr = reverse === undefined ? undefined : this.#source.reverse(reverse, client, server);
        if (ptr !== undefined) return buildResponse(msg, query, 0, { ptr });
        const addresses = q.type === TYPE_PTR ? undefined : this.#source.lookup(name, client, server);
        if (addresses !== undefined) {
          // A container's name: its IPv4 addresses for A, an empty NOERROR for other types
          // (so that resolvers asking AAAA first do not give up on the name).
          return buildResponse(msg, query, 0, { addresses: q.type === TYPE_A ? addresses : [] });
        }
      }
      const upstreams = this.#source.upstreams(client, server);
      if (upstreams.length === 0) return buildResponse(msg, query, name.includes('.') ? RCODE_SERVFAIL : RCODE_NXDOMAIN, {});
      for (const u of upstreams) {
        const reply = await this.#forward(msg, hostPort(u), tcp).catch(() => undefined);
        if (reply !== undefined && reply.length >= 12 && reply.readUInt16BE(0) === query.id) return reply;
      }
      return buildResponse(msg, query, RCODE_SERVFAIL, {});
    } catch (err) {
      this.#log(`DNS: ${err instanceof Error ? err.message : String(err)}`);
      return buildResponse(msg, query, RCODE_SERVFAIL, {});
    }
  }

  /** Sends the query upstream; UDP, then TCP when the reply is truncated or the client used TCP. */
  async #forward(msg: Buffer, upstream: { host: string; port: number }, tcp: boolean): Promise<Buffer | undefined> {
    if (!tcp) {
      const reply = await this.#forwardUdp(msg, upstream);
      if (reply === undefined || (reply.readUInt16BE(2) & 0x0200) === 0) return reply;
    }
    return this.#forwardTcp(msg, upstream);
  }

  #forwardUdp(msg: Buffer, upstream: { host: string; port: number }): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = createSocket('udp4');
      const done = (reply: Buffer | undefined): void => {
        clearTimeout(timer);
        socket.close();
        resolve(reply);
      };
      const timer = setTimeout(() => done(undefined), this.#timeout);
      socket.on('error', () => done(undefined));
      socket.on('message', (reply) => {
        if (reply.length >= 2 && reply.readUInt16BE(0) === msg.readUInt16BE(0)) done(reply);
      });
      socket.send(msg, upstream.port, upstream.host);
    });
  }

  #forwardTcp(msg: Buffer, upstream: { host: string; port: number }): Promise<Buffer | undefined> {
    return new Promise((resolve) => {
      const socket = connect({ host: upstream.host, port: upstream.port });
      let data = Buffer.alloc(0);
      const done = (reply: Buffer | undefined): void => {
        clearTimeout(timer);
        socket.destroy();
        resolve(reply);
      };
      const timer = setTimeout(() => done(undefined), this.#timeout);
      socket.on('error', () => done(undefined));
      socket.on('connect', () => {
        const framed = Buffer.alloc(2 + msg.length);
        framed.writeUInt16BE(msg.length, 0);
        msg.copy(framed, 2);
        socket.write(framed);
      });
      socket.on('data', (chunk: Buffer) => {
        data = Buffer.concat([data, chunk]);
        if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) done(data.subarray(2, 2 + data.readUInt16BE(0)));
      });
      socket.on('end', () => done(undefined));
    });
  }

  async close(): Promise<void> {
    for (const l of this.#listeners.values()) await closeListener(l);
    this.#listeners.clear();
  }
}

async function closeListener(l: Listener): Promise<void> {
  await new Promise<void>((resolve) => l.udp.close(() => resolve()));
  await new Promise<void>((resolve) => l.tcp.close(() => resolve()));
}
