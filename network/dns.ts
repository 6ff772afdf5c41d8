/**
 * berth's DNS responder for user networks (docker's embedded DNS, podman's aardvark-dns).
 * One per store, in the host's network namespace, it listens on UDP and TCP port 53 of
 * each user network's gateway address; containers on the network have that address as
 * their nameserver. It answers, from a {@link DnsSource}:
 *  - A queries for the names and aliases of containers on the network the query arrived
 *    on (TTL 600 s, as docker), and an empty NOERROR for their other types (AAAA...), so
 *    that resolvers do not give up on the name;
 *  - PTR queries (in-addr.arpa) for those containers' addresses.
 * Everything else goes to the network's upstream resolvers in order, and the first
 * reply is relayed unchanged; none answering, or none configured (an `--internal`
 * network), gives SERVFAIL, as docker does. Malformed UDP queries are dropped and a TCP
 * connection that sends one is closed. Nothing a client or upstream sends can throw out
 * of the server: the process serves many networks and must not fall over.
 *
 * The wire format is in dns-codec.ts.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect, createServer, isIP, isIPv4, type Server, type Socket as TcpSocket } from 'node:net';
import { InvalidArgumentError, NetworkError } from '../common/errors.js';
import { asciiLower, buildResponse, CLASS_IN, type DnsQuery, type DnsRecord, frameTcp, isReplyTo, isTruncated, MAX_UDP_MESSAGE, opcodeOf, parseQuery, Rcode, rcodeOf, reverseAddress, TYPE_A, TYPE_ANY, TYPE_PTR } from './dns-codec.js';

export {
  ANSWER_TTL, buildResponse, CLASS_IN, encodeName, frameTcp, isReplyTo, isTruncated, MAX_QUESTIONS, MAX_UDP_MESSAGE, opcodeOf, parseQuery, Rcode, rcodeOf, reverseAddress,
  TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_OPT, TYPE_PTR, type DnsQuery, type DnsQuestion, type DnsRecord, type ResponseOptions,
} from './dns-codec.js';

/**
 * What the responder asks about each query; berth answers from its metadata database.
 * Called synchronously for every query, so a container's name resolves as soon as the
 * source knows it; a method that throws makes that one query SERVFAIL.
 */
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

/** Options of {@link DnsServer}. */
export interface DnsServerOptions {
  /** How long one upstream gets to answer; default 2000 ms. All of them together get twice that. */
  readonly upstreamTimeoutMs?: number;
  /** Where to report what goes wrong while serving (never thrown): one line each. */
  readonly log?: (line: string) => void;
}

/** Upstreams tried per query, as docker (moby libnetwork resolver.go maxExtDNS). */
const MAX_UPSTREAMS = 3;
/** Queries being answered at once, over all addresses; more get SERVFAIL at once. */
const MAX_PENDING = 512;
/** Open TCP connections per address, queries in flight per connection, and idle time before one is closed. */
const MAX_TCP_CONNECTIONS = 64;
const MAX_TCP_PIPELINE = 16;
const TCP_IDLE_MS = 10_000;
/** The largest message the 2-byte length of DNS over TCP can frame. */
const MAX_TCP_MESSAGE = 0xffff;
/** Attempts to find a port free for both UDP and TCP when port 0 is asked for. */
const PORT_ZERO_ATTEMPTS = 8;

type Transport = 'udp' | 'tcp';

interface Listener {
  readonly udp: Socket;
  readonly tcp: Server;
  readonly port: number;
  readonly connections: Set<TcpSocket>;
}

/** The responder; see the module comment. Listens nowhere until {@link DnsServer.listen}. */
export class DnsServer {
  readonly #source: DnsSource;
  readonly #timeout: number;
  readonly #log: (line: string) => void;
  readonly #listeners = new Map<string, Listener>();
  #pending = 0;
  /** listen() and close() run one at a time, in call order. */
  #chain: Promise<void> = Promise.resolve();

  constructor(source: DnsSource, options: DnsServerOptions = {}) {
    this.#source = source;
    this.#timeout = options.upstreamTimeoutMs ?? 2000;
    const log = options.log ?? (() => undefined);
    this.#log = (line) => {
      try {
        log(line);
      } catch {
        // A logger that fails must not take the responder down with it.
      }
    };
  }

  /** The addresses listened on now. */
  get addresses(): readonly string[] {
    return [...this.#listeners.keys()];
  }

  /** The port listened on at `address` (useful after asking for port 0), or undefined. */
  port(address: string): number | undefined {
    return this.#listeners.get(address)?.port;
  }

  /**
   * Listens (UDP and TCP, the same port) on each of `addresses` not listened on yet, and
   * stops on those no longer given. Port 0 picks a free port per address. Resolves when
   * every bind is done; rejects with a NetworkError naming each address that could not
   * be bound (in use, not on this host), the others listening all the same.
   */
  listen(addresses: readonly string[], port = 53): Promise<void> {
    return this.#serialize(async () => {
      const want = [...new Set(addresses)];
      for (const [address, listener] of [...this.#listeners]) {
        if (want.includes(address) && (port === 0 || listener.port === port)) continue;
        this.#listeners.delete(address);
        await closeListener(listener);
      }
      const failures: { address: string; error: unknown }[] = [];
      for (const address of want) {
        if (this.#listeners.has(address)) continue;
        try {
          this.#listeners.set(address, await this.#bind(address, port));
        } catch (error) {
          failures.push({ address, error });
        }
      }
      if (failures.length > 0) throw bindError(failures, port);
    });
  }

  /** Stops listening everywhere and closes open TCP connections; queries in flight get no reply. */
  close(): Promise<void> {
    return this.#serialize(async () => {
      const listeners = [...this.#listeners.values()];
      this.#listeners.clear();
      for (const listener of listeners) await closeListener(listener);
    });
  }

  #serialize(work: () => Promise<void>): Promise<void> {
    const run = this.#chain.then(work);
    this.#chain = run.catch(() => undefined);
    return run;
  }

  async #bind(address: string, port: number): Promise<Listener> {
    if (isIP(address) === 0) throw new InvalidArgumentError('not an IP address');
    for (let attempt = 1; ; attempt++) {
      const udp = createSocket(isIP(address) === 6 ? 'udp6' : 'udp4');
      await new Promise<void>((resolve, reject) => {
        udp.once('error', (err) => {
          udp.removeAllListeners('listening');
          closeQuietly(udp);
          reject(err);
        });
        udp.bind(port, address, () => {
          udp.removeAllListeners('error');
          resolve();
        });
      });
      const bound = udp.address().port;
      const connections = new Set<TcpSocket>();
      const tcp = createServer({ allowHalfOpen: true }, (socket) => this.#serveTcp(socket, address, connections));
      tcp.maxConnections = MAX_TCP_CONNECTIONS;
      try {
        await new Promise<void>((resolve, reject) => {
          tcp.once('error', reject);
          tcp.listen({ port: bound, host: address, exclusive: true }, () => {
            tcp.off('error', reject);
            resolve();
          });
        });
      } catch (err) {
        await new Promise<void>((resolve) => udp.close(() => resolve()));
        // The kernel's free UDP port may be taken for TCP: try another one.
        if (port === 0 && errorCode(err) === 'EADDRINUSE' && attempt < PORT_ZERO_ATTEMPTS) continue;
        throw err;
      }
      udp.on('error', (err) => this.#log(`DNS: UDP socket on ${address}: ${err.message}`));
      udp.on('message', (msg, from) => this.#serveUdp(udp, msg, from.address, from.port, address));
      tcp.on('error', (err) => this.#log(`DNS: TCP listener on ${address}: ${err.message}`));
      return { udp, tcp, port: bound, connections };
    }
  }

  #serveUdp(udp: Socket, msg: Buffer, client: string, clientPort: number, server: string): void {
    if (msg.length > MAX_UDP_MESSAGE) return;
    this.#reply(msg, client, server, 'udp').then((reply) => {
      if (reply === undefined) return;
      try {
        udp.send(reply, clientPort, client, () => undefined);
      } catch {
        // The socket was closed while the query was forwarded: nobody to answer on.
      }
    }).catch((err: unknown) => this.#log(`DNS: ${String(err)}`));
  }

  /** DNS over TCP (RFC 1035 §4.2.2, RFC 7766): length-prefixed messages, several per connection, replies in any order. */
  #serveTcp(socket: TcpSocket, server: string, connections: Set<TcpSocket>): void {
    connections.add(socket);
    const client = socket.remoteAddress ?? '';
    let buffered: Buffer = Buffer.alloc(0);
    let inFlight = 0;
    let ended = false;
    const finish = (): void => {
      if (ended && inFlight === 0 && !socket.destroyed) socket.end();
    };
    socket.setTimeout(TCP_IDLE_MS, () => socket.destroy());
    socket.on('close', () => connections.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.on('end', () => {
      ended = true;
      finish();
    });
    socket.on('data', (chunk: Buffer) => {
      // At most one incomplete message (< 64 KiB) plus one chunk is held.
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk]);
      while (buffered.length >= 2 && !socket.destroyed) {
        const length = buffered.readUInt16BE(0);
        if (buffered.length < 2 + length) break;
        const msg = buffered.subarray(2, 2 + length);
        buffered = buffered.subarray(2 + length);
        if (++inFlight > MAX_TCP_PIPELINE) {
          socket.destroy();
          return;
        }
        this.#reply(msg, client, server, 'tcp').then((reply) => {
          inFlight--;
          if (reply === undefined) socket.destroy();
          else if (socket.writable) socket.write(frameTcp(reply));
          finish();
        }).catch((err: unknown) => {
          this.#log(`DNS: ${String(err)}`);
          socket.destroy();
        });
      }
    });
  }

  /** The reply to one message, or undefined when it is malformed. Never rejects. */
  async #reply(msg: Buffer, client: string, server: string, transport: Transport): Promise<Buffer | undefined> {
    const query = parseQuery(msg);
    if (query === undefined) return undefined;
    if (this.#pending >= MAX_PENDING) return servfail(query);
    this.#pending++;
    try {
      return await this.#resolve(query, msg, client, server, transport);
    } catch (err) {
      this.#log(`DNS: cannot answer "${query.questions[0]?.name ?? ''}" for ${client}: ${err instanceof Error ? err.message : String(err)}`);
      return servfail(query);
    } finally {
      this.#pending--;
    }
  }

  async #resolve(query: DnsQuery, msg: Buffer, client: string, server: string, transport: Transport): Promise<Buffer> {
    if (opcodeOf(query) !== 0) return buildResponse(query, { rcode: Rcode.notImp });
    const records = this.#local(query, client, server);
    // berth sends no EDNS OPT record, so its own UDP replies stay within 512 bytes (RFC 6891 §7).
    if (records !== undefined) return buildResponse(query, { records, authoritative: true, maxSize: transport === 'udp' ? MAX_UDP_MESSAGE : MAX_TCP_MESSAGE });
    const upstreams = this.#source.upstreams(client, server);
    if (upstreams.length === 0) return servfail(query);
    return (await this.#forward(msg, query, upstreams, transport)) ?? servfail(query);
  }

  /** berth's own answer, or undefined when the name is not one of the network's containers. */
  #local(query: DnsQuery, client: string, server: string): DnsRecord[] | undefined {
    const q = query.questions[0];
    // Escapes mean bytes no container name has; the root is nobody's.
    if (q === undefined || q.class !== CLASS_IN || q.name === '' || q.name.includes('\\')) return undefined;
    const name = asciiLower(q.name);
    if (q.type === TYPE_PTR) {
      const address = reverseAddress(name);
      const target = address === undefined ? undefined : this.#source.reverse(address, client, server);
      if (target !== undefined) return [{ type: TYPE_PTR, target }];
      if (address !== undefined) return undefined;
    }
    const addresses = this.#source.lookup(name, client, server);
    if (addresses === undefined) return undefined;
    // A container's name: its addresses for A, an empty NOERROR for other types.
    if (q.type !== TYPE_A && q.type !== TYPE_ANY) return [];
    return addresses.map((address) => ({ type: TYPE_A, address }));
  }

  /**
   * Tries the upstreams in order, each for up to the timeout, all together for up to
   * twice that (a stub resolver's own timeout is 5 s). A SERVFAIL moves on to the next
   * one, as docker does; the last one is relayed if nobody does better.
   */
  async #forward(msg: Buffer, query: DnsQuery, upstreams: readonly string[], transport: Transport): Promise<Buffer | undefined> {
    const deadline = Date.now() + 2 * this.#timeout;
    const failures: string[] = [];
    const usable: { text: string; upstream: Upstream }[] = [];
    for (const text of upstreams) {
      const upstream = parseUpstream(text);
      if (upstream === undefined) failures.push(`${text}: not an address`);
      else if (this.#isSelf(upstream)) failures.push(`${text}: that is this server`);
      else usable.push({ text, upstream });
    }
    let last: Buffer | undefined;
    for (const { text, upstream } of usable.slice(0, MAX_UPSTREAMS)) {
      if (Date.now() >= deadline) break;
      const result = await this.#exchange(msg, query, upstream, transport, deadline);
      if (typeof result === 'string') {
        failures.push(`${text}: ${result}`);
        continue;
      }
      if (rcodeOf(result) !== Rcode.servFail) return result;
      failures.push(`${text}: SERVFAIL`);
      last = result;
    }
    this.#log(`DNS: no upstream answered "${query.questions[0]?.name ?? ''}" (${failures.join('; ') || 'out of time'})`);
    return last;
  }

  /** One upstream's reply, or why there is none. UDP queries go over UDP, then TCP when the reply is truncated. */
  async #exchange(msg: Buffer, query: DnsQuery, upstream: Upstream, transport: Transport, deadline: number): Promise<Buffer | string> {
    const budget = (): number => Math.min(this.#timeout, deadline - Date.now());
    if (transport === 'tcp') return exchangeTcp(msg, query, upstream, budget());
    const reply = await exchangeUdp(msg, query, upstream, budget());
    if (typeof reply === 'string' || !isTruncated(reply) || budget() <= 0) return reply;
    const full = await exchangeTcp(msg, query, upstream, budget());
    // A reply the client cannot take over UDP: it gets the truncated one and asks over TCP itself.
    return typeof full === 'string' || full.length > query.udpSize ? reply : full;
  }

  /** An upstream that is one of this server's own addresses and ports would forward to itself forever. */
  #isSelf(upstream: Upstream): boolean {
    return this.#listeners.get(upstream.host)?.port === upstream.port;
  }
}

function servfail(query: DnsQuery): Buffer {
  return buildResponse(query, { rcode: Rcode.servFail });
}

function errorCode(err: unknown): string | undefined {
  return err instanceof Error && 'code' in err && typeof err.code === 'string' ? err.code : undefined;
}

/** Why a bind failed, in words. */
function bindReason(err: unknown): string {
  switch (errorCode(err)) {
    case 'EADDRINUSE': return 'the address is in use by another program';
    case 'EADDRNOTAVAIL': return 'no interface of this host has that address';
    case 'EACCES': return 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)';
    default: return err instanceof Error ? err.message : String(err);
  }
}

function bindError(failures: readonly { address: string; error: unknown }[], port: number): NetworkError {
  const where = (address: string): string => `"${isIP(address) === 6 ? `[${address}]` : address}:${port}"`;
  const message = `Cannot listen for DNS queries on ${failures.map((f) => `${where(f.address)} (${bindReason(f.error)})`).join(', ')}`;
  const inUse = failures.some((f) => errorCode(f.error) === 'EADDRINUSE');
  return new NetworkError(message, {
    cause: failures[0]?.error,
    ...(inUse ? { hint: `Stop the other DNS server on that address (dnsmasq, a resolver bound to all addresses), or find it with "ss -lunp 'sport = :${port}'"` } : {}),
  });
}

function closeQuietly(socket: Socket): void {
  try {
    socket.close();
  } catch {
    // Never bound: nothing to release.
  }
}

async function closeListener(listener: Listener): Promise<void> {
  for (const socket of listener.connections) socket.destroy();
  await new Promise<void>((resolve) => listener.udp.close(() => resolve()));
  await new Promise<void>((resolve) => listener.tcp.close(() => resolve()));
}

/** An upstream resolver's address. */
interface Upstream {
  readonly host: string;
  readonly port: number;
}

/** "ip", "ip:port", "[ipv6]:port" or a bare IPv6 address; undefined for anything else. */
function parseUpstream(text: string): Upstream | undefined {
  if (isIP(text) !== 0) return { host: text, port: 53 };
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d{1,5})$/.exec(text);
  const host = m?.[1] ?? m?.[2] ?? '';
  const port = Number(m?.[3]);
  const ok = (m?.[1] !== undefined ? isIP(host) === 6 : isIPv4(host)) && port > 0 && port < 65536;
  return ok ? { host, port } : undefined;
}

/**
 * Sends `msg` to `upstream` over UDP from a fresh socket (a new random source port per
 * query) and waits up to `ms` for a reply to it. The socket is connected, so only the
 * upstream's address can answer and an ICMP "port unreachable" ends the wait at once.
 */
function exchangeUdp(msg: Buffer, query: DnsQuery, upstream: Upstream, ms: number): Promise<Buffer | string> {
  return new Promise((resolve) => {
    const socket = createSocket(isIP(upstream.host) === 6 ? 'udp6' : 'udp4');
    let done = false;
    const finish = (result: Buffer | string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.close();
      resolve(result);
    };
    const timer = setTimeout(() => finish('timed out'), Math.max(0, ms));
    socket.on('error', (err) => finish(err.message));
    // Anything else (a late reply to an earlier query, a forgery) is ignored (RFC 5452 §9.1).
    socket.on('message', (reply) => {
      if (isReplyTo(reply, query)) finish(reply);
    });
    socket.connect(upstream.port, upstream.host, () => socket.send(msg, (err) => err !== null && finish(err.message)));
  });
}

/** Sends `msg` to `upstream` over TCP and waits up to `ms` for the reply. */
function exchangeTcp(msg: Buffer, query: DnsQuery, upstream: Upstream, ms: number): Promise<Buffer | string> {
  return new Promise((resolve) => {
    const socket = connect({ host: upstream.host, port: upstream.port });
    let buffered = Buffer.alloc(0);
    let done = false;
    const finish = (result: Buffer | string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(result);
    };
    const timer = setTimeout(() => finish('timed out'), Math.max(0, ms));
    socket.on('error', (err) => finish(err.message));
    socket.on('connect', () => socket.write(frameTcp(msg)));
    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (buffered.length < 2 || buffered.length < 2 + buffered.readUInt16BE(0)) return;
      const reply = buffered.subarray(2, 2 + buffered.readUInt16BE(0));
      finish(isReplyTo(reply, query) ? reply : 'a reply to another query');
    });
    socket.on('end', () => finish('closed the connection without a reply'));
  });
}
