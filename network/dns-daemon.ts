/**
 * The store's DNS responder process (podman's aardvark-dns, docker's embedded DNS): one
 * per store, listening on the gateway address of each user network whose bridge is up,
 * answering containers' names and aliases from the metadata database at each query (so
 * it never holds a stale copy) and forwarding other names upstream.
 *
 * Started by the first container that needs it ({@link ensureDnsDaemon}), told with SIGHUP
 * to look at the networks again when one comes up, and gone once no user network has a
 * bridge. Its pid file holds "pid start-time", so that a recycled pid is not mistaken for it.
 */
import { spawn } from 'node:child_process';
import { readFileSync, unlinkSync, writeFileSync, existsSync } from 'node:fs';
import { processStartTime, sameProcess } from '../common/process.js';
import type { MetadataDb } from '../common/metadata.js';
import type { StateLayout } from '../common/paths.js';
import { NetworkError } from '../common/errors.js';
import { DnsServer, type DnsSource } from './dns.js';

interface DaemonState {
  readonly pid: number;
  readonly start: string;
  readonly addresses: readonly string[];
}

function readState(path: string): DaemonState | undefined {
  try {
    const [head = '', addresses = ''] = readFileSync(path, 'utf8').split('\n');
    const [pid, start] = head.split(' ');
    return { pid: Number(pid), start: start ?? '', addresses: addresses.split(' ').filter((a) => a !== '') };
  } catch {
    return undefined;
  }
}

/** Gateways of the store's user networks whose bridge is up: where the responder listens. */
export function dnsAddresses(db: MetadataDb): string[] {
  return db.all('SELECT gateway, bridge FROM networks WHERE dns = 1 ORDER BY gateway')
    .filter((r) => existsSync(`/sys/class/net/${String(r['bridge'])}`))
    .map((r) => String(r['gateway']));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Makes sure the store's responder runs and listens on every user network with a bridge:
 * a running one is signalled and watched until its pid file lists the addresses, else a
 * new one is started (`command`) and waited for.
 */
export async function ensureDnsDaemon(layout: StateLayout, command: readonly string[], want: readonly string[]): Promise<void> {
  const file = layout.dnsPidFile();
  const state = readState(file);
  if (state !== undefined && sameProcess(state.pid, state.start)) {
    if (same(state.addresses, want)) return;
    process.kill(state.pid, 'SIGHUP');
    await waitFor(file, state.pid, want);
    return;
  }
  if (want.length === 0) return;
  const [exe = process.execPath, ...args] = command;
  const child = spawn(exe, args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  const output = await new Promise<{ ok: boolean; text: string }>((resolve) => {
    let text = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      text += d;
      if (text.includes('ready\n')) resolve({ ok: true, text });
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      text += d;
    });
    child.once('exit', () => resolve({ ok: false, text }));
    child.once('error', (err) => resolve({ ok: false, text: err.message }));
  });
  child.stdout.destroy();
  child.stderr.destroy();
  child.unref();
  if (!output.ok) {
    throw new NetworkError(`Cannot start berth's DNS responder: ${output.text.trim().split('\n').slice(-3).join(' ')}`, {
      hint: 'It listens on port 53 of each user network\'s gateway: make sure nothing else holds port 53 on those addresses',
    });
  }
}

function same(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

/** Waits (up to 3 s) until the responder lists `want`, or has gone. */
async function waitFor(file: string, pid: number, want: readonly string[]): Promise<void> {
  const deadline = Date.now() + 3000;
  while (Date.now() < deadline) {
    const s = readState(file);
    if (s === undefined || s.pid !== pid || want.every((a) => s.addresses.includes(a))) return;
    await sleep(5);
  }
}

/** What the responder asks the database. */
function databaseSource(db: MetadataDb, upstreamDefault: () => readonly string[]): DnsSource {
  const names = (server: string): { ip: string; name: string; id: string; aliases: string[] }[] =>
    db.all(
      `SELECT e.ip AS ip, c.name AS name, c.id AS id, e.aliases AS aliases FROM endpoints e
         JOIN networks n ON n.id = e.network_id JOIN containers c ON c.id = e.container_id
        WHERE n.gateway = ? AND n.dns = 1 AND c.state IN ('running', 'paused')`,
      server,
    ).map((r) => ({ ip: String(r['ip']), name: String(r['name']).toLowerCase(), id: String(r['id']), aliases: (JSON.parse(String(r['aliases'])) as string[]).map((a) => a.toLowerCase()) }));
  return {
    lookup(name, _client, server) {
      const found = names(server).filter((n) => n.name === name || n.aliases.includes(name) || (name.length === 12 && n.id.startsWith(name)));
      return found.length === 0 ? undefined : found.map((n) => n.ip);
    },
    reverse(address, _client, server) {
      return names(server).find((n) => n.ip === address)?.name;
    },
    upstreams(client, server) {
      const row = db.get(
        `SELECT n.internal AS internal, c.config AS config FROM networks n
           LEFT JOIN endpoints e ON e.network_id = n.id AND e.ip = ? LEFT JOIN containers c ON c.id = e.container_id
          WHERE n.gateway = ? AND n.dns = 1`,
        client, server,
      );
      if (row === undefined || row['internal'] === 1) return [];
      const config = row['config'] === null || row['config'] === undefined ? undefined : (JSON.parse(String(row['config'])) as { net?: { dns?: string[] } });
      const own = config?.net?.dns ?? [];
      return own.length > 0 ? own : upstreamDefault();
    },
  };
}

/** The host's name servers, for forwarding from the host's namespace (loopback ones work here). */
export function hostNameservers(text: string): string[] {
  return text.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f[0] === 'nameserver' && f[1] !== undefined).map((f) => f[1] ?? '');
}

/**
 * Runs the responder until no user network is left with a bridge. Writes "ready" to
 * stdout once listening (ensureDnsDaemon waits for it), then detaches from it.
 */
export async function runDnsDaemon(db: MetadataDb, layout: StateLayout, upstreams: () => readonly string[]): Promise<void> {
  const file = layout.dnsPidFile();
  const existing = readState(file);
  if (existing !== undefined && existing.pid !== process.pid && sameProcess(existing.pid, existing.start)) {
    process.stdout.write('ready\n');
    return;
  }
  const start = processStartTime(process.pid) ?? '';
  let attached = true;
  const server = new DnsServer(databaseSource(db, upstreams), { log: (line) => attached && process.stderr.write(`${line}\n`) });
  const write = (): void => writeFileSync(file, `${process.pid} ${start}\n${server.addresses.join(' ')}\n`);
  let stopping = false;
  const stop = async (): Promise<void> => {
    if (stopping) return;
    stopping = true;
    await server.close();
    const s = readState(file);
    if (s?.pid === process.pid) unlinkSync(file);
    db.close();
    process.exit(0);
  };
  const rescan = async (): Promise<void> => {
    const addresses = dnsAddresses(db);
    if (addresses.length === 0) return stop();
    await server.listen(addresses).catch((err: unknown) => {
      if (attached) process.stderr.write(`${err instanceof Error ? err.message : String(err)}\n`);
    });
    write();
  };
  let busy = Promise.resolve();
  const queue = (): void => {
    busy = busy.then(rescan, rescan);
  };
  process.on('SIGHUP', queue);
  process.on('SIGTERM', () => void stop());
  write();
  await rescan();
  process.stdout.write('ready\n');
  // The caller reads "ready" and goes; nothing more is written to its pipes.
  attached = false;
  process.stdout.destroy();
  process.stderr.destroy();
  // Networks also go by `network rm` of another berth, which signals too; look now and then anyway.
  setInterval(queue, 30_000).unref();
  await new Promise(() => undefined);
}
