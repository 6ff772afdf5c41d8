import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { buildResponse, DnsServer, parseQuery, TYPE_A, TYPE_AAAA, TYPE_PTR, type DnsSource } from '../../../network/dns.js';

/** A query for `name` of `type`, id `id`, RD set. */
function query(name: string, type: number, id = 0x1234): Buffer {
  const labels = name.split('.').filter((l) => l !== '').map((l) => Buffer.concat([Buffer.from([l.length]), Buffer.from(l)]));
  const header = Buffer.from([id >> 8, id & 255, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
  return Buffer.concat([header, ...labels, Buffer.from([0, type >> 8, type & 255, 0, 1])]);
}

interface Reply {
  id: number;
  rcode: number;
  answers: number;
  addresses: string[];
}

function parseReply(buf: Buffer): Reply {
  const q = parseQuery(Buffer.concat([buf.subarray(0, 2), Buffer.from([0x01, 0x00]), buf.subarray(4)]));
  let pos = q?.questionEnd ?? 12;
  const answers = buf.readUInt16BE(6);
  const addresses: string[] = [];
  for (let i = 0; i < answers; i++) {
    pos += 2; // compressed name
    const type = buf.readUInt16BE(pos);
    const len = buf.readUInt16BE(pos + 8);
    if (type === TYPE_A) addresses.push([...buf.subarray(pos + 10, pos + 14)].join('.'));
    pos += 10 + len;
  }
  return { id: buf.readUInt16BE(0), rcode: buf.readUInt16BE(2) & 0xf, answers, addresses };
}

function ask(port: number, msg: Buffer, ms = 3000): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const s = createSocket('udp4');
    const timer = setTimeout(() => {
      s.close();
      resolve(undefined);
    }, ms);
    s.on('message', (m) => {
      clearTimeout(timer);
      s.close();
      resolve(m);
    });
    s.send(msg, port, '127.0.0.1');
  });
}

function askTcp(port: number, msg: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port });
    let data = Buffer.alloc(0);
    socket.on('error', reject);
    socket.on('connect', () => socket.write(Buffer.concat([Buffer.from([msg.length >> 8, msg.length & 255]), msg])));
    socket.on('data', (d: Buffer) => {
      data = Buffer.concat([data, d]);
      if (data.length >= 2 && data.length >= 2 + data.readUInt16BE(0)) {
        socket.destroy();
        resolve(data.subarray(2));
      }
    });
  });
}

const source = (upstreams: string[]): DnsSource => ({
  lookup: (name) => (name === 'web' || name === 'www' ? ['10.90.0.2'] : undefined),
  reverse: (address) => (address === '10.90.0.2' ? 'web' : undefined),
  upstreams: () => upstreams,
});

describe('DNS codec', () => {
  it('parses a query and answers it with its id, question and A records', () => {
    const q = query('Web.Example', TYPE_A, 7);
    const parsed = parseQuery(q);
    expect(parsed?.questions).toEqual([{ name: 'Web.Example', type: TYPE_A, class: 1 }]);
    const reply = parseReply(buildResponse(q, parsed!, 0, { addresses: ['10.0.0.1', '10.0.0.2'] }));
    expect(reply).toEqual({ id: 7, rcode: 0, answers: 2, addresses: ['10.0.0.1', '10.0.0.2'] });
  });

  it('refuses malformed queries: short, responses, label past the end, pointer loops, too many questions', () => {
    expect(parseQuery(Buffer.alloc(5))).toBeUndefined();
    const response = query('a', TYPE_A);
    response[2] = 0x81;
    expect(parseQuery(response)).toBeUndefined();
    expect(parseQuery(query('abc', TYPE_A).subarray(0, 15))).toBeUndefined();
    const loop = Buffer.concat([Buffer.from([0, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0]), Buffer.from([0xc0, 12, 0, 1, 0, 1])]);
    expect(parseQuery(loop)).toBeUndefined();
    const many = query('a', TYPE_A);
    many[5] = 9;
    expect(parseQuery(many)).toBeUndefined();
  });
});

describe('DNS responder', () => {
  const servers: DnsServer[] = [];
  const sockets: Socket[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
    for (const s of sockets.splice(0)) s.close();
  });

  async function start(upstreams: string[], timeoutMs = 300): Promise<number> {
    const server = new DnsServer(source(upstreams), { upstreamTimeoutMs: timeoutMs });
    servers.push(server);
    await server.listen(['127.0.0.1'], 0);
    return server.port('127.0.0.1') ?? 0;
  }

  /** A fake upstream on 127.0.0.2 that answers every question with 192.0.2.9. */
  async function upstream(): Promise<string> {
    const s = createSocket('udp4');
    sockets.push(s);
    s.on('message', (m, from) => {
      const q = parseQuery(m);
      if (q !== undefined) s.send(buildResponse(m, q, 0, { addresses: ['192.0.2.9'] }), from.port, from.address);
    });
    await new Promise<void>((resolve) => s.bind(0, '127.0.0.2', resolve));
    return `127.0.0.2:${s.address().port}`;
  }

  it('answers names and aliases case-insensitively, AAAA of a known name empty, PTR by address, over UDP and TCP', async () => {
    const port = await start([]);
    expect(parseReply((await ask(port, query('web', TYPE_A)))!)).toMatchObject({ rcode: 0, addresses: ['10.90.0.2'] });
    expect(parseReply((await ask(port, query('WWW.', TYPE_A)))!)).toMatchObject({ rcode: 0, addresses: ['10.90.0.2'] });
    expect(parseReply((await ask(port, query('web', TYPE_AAAA)))!)).toMatchObject({ rcode: 0, answers: 0 });
    expect(parseReply((await ask(port, query('2.0.90.10.in-addr.arpa', TYPE_PTR)))!)).toMatchObject({ rcode: 0, answers: 1 });
    expect(parseReply(await askTcp(port, query('web', TYPE_A, 99)))).toMatchObject({ id: 99, addresses: ['10.90.0.2'] });
  });

  it('forwards other names upstream with the client\'s id, and SERVFAILs without upstreams or when they do not answer', async () => {
    const port = await start([await upstream()]);
    expect(parseReply((await ask(port, query('example.test', TYPE_A, 4321)))!)).toEqual({ id: 4321, rcode: 0, answers: 1, addresses: ['192.0.2.9'] });
    const internal = await start([]);
    expect(parseReply((await ask(internal, query('example.test', TYPE_A)))!).rcode).toBe(2);
    const silent = createSocket('udp4');
    sockets.push(silent);
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.2', resolve));
    const dead = await start([`127.0.0.2:${silent.address().port}`], 200);
    expect(parseReply((await ask(dead, query('example.test', TYPE_A)))!).rcode).toBe(2);
  });

  it('drops malformed packets and keeps answering', async () => {
    const port = await start([]);
    expect(await ask(port, Buffer.from([1, 2, 3]), 300)).toBeUndefined();
    expect(parseReply((await ask(port, query('web', TYPE_A)))!).addresses).toEqual(['10.90.0.2']);
  });

  it('adds and removes addresses, and names one it cannot bind', async () => {
    const server = new DnsServer(source([]));
    servers.push(server);
    await server.listen(['127.0.0.1', '127.0.0.3'], 0);
    expect(server.addresses).toEqual(['127.0.0.1', '127.0.0.3']);
    await server.listen(['127.0.0.3'], 0);
    expect(server.addresses).toEqual(['127.0.0.3']);
    await expect(server.listen(['127.0.0.3', '192.0.2.200'], 0)).rejects.toThrow(/cannot listen on 192.0.2.200/);
    expect(server.addresses).toEqual(['127.0.0.3']);
  });
});
