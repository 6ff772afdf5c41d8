/**
 * Published ports: docker's `-p`, `--expose` and `-P` syntax (go-connections nat.ParsePortSpec
 * and the CLI's PortOpt), and the ways docker shows them (ps's PORTS column, `docker port`,
 * inspect's port maps). Pure; berth is IPv4-only for now.
 */
import { InvalidArgumentError } from '../common/errors.js';
import { parseIpv4 } from './ipam.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

/**
 * One container port published on one host address. `hostPort` 0 is any free port, chosen
 * at start; with `hostPortEnd`, any free one of hostPort..hostPortEnd. `hostIp` '' is
 * every address (0.0.0.0).
 */
export interface PortBinding {
  readonly hostIp: string;
  readonly hostPort: number;
  readonly hostPortEnd?: number | undefined;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

const hint = 'Use -p [ip:][hostPort:]containerPort[/tcp|udp|sctp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp';

function protocolOf(text: string): Protocol {
  const p = text.toLowerCase();
  if (p === 'tcp' || p === 'udp' || p === 'sctp') return p;
  throw new InvalidArgumentError(`invalid proto: ${text}`, { hint });
}

/** "80" or "8000-8010" → [start, end]; `what` names the field in docker's words. */
function portRange(text: string, what: string, allowZero = false): [number, number] {
  const m = /^(\d+)(?:-(\d+))?$/.exec(text);
  const start = Number(m?.[1]);
  const end = m?.[2] === undefined ? start : Number(m[2]);
  const ok = (n: number): boolean => Number.isInteger(n) && n <= 65535 && (n > 0 || allowZero);
  if (m === null || !ok(start) || !ok(end)) throw new InvalidArgumentError(`invalid ${what}: ${text}`, { hint });
  if (end < start) throw new InvalidArgumentError(`invalid ${what}: ${text}`, { hint });
  return [start, end];
}

function hostAddress(text: string): string {
  const ip = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  if (ip === '' || ip === '0.0.0.0' || ip === '::') return '';
  if (ip.includes(':')) throw new InvalidArgumentError(`IPv6 host addresses are not supported yet: ${text}`, { hint: 'Publish on an IPv4 address, or on all addresses' });
  if (parseIpv4(ip) === undefined) throw new InvalidArgumentError(`invalid IP address: ${text}`, { hint });
  return ip;
}

/** docker's -p / --publish value (short "[ip:][hostPort[-end]:]containerPort[-end][/proto]", or long "published=…,target=…"). */
export function parsePublish(spec: string): PortBinding[] {
  if (/^[a-z_]+=/.test(spec)) return [parseLong(spec)];
  let rest = spec;
  let protocol: Protocol = 'tcp';
  const slash = rest.lastIndexOf('/');
  if (slash >= 0) {
    protocol = protocolOf(rest.slice(slash + 1));
    rest = rest.slice(0, slash);
  }
  // The host address may be an IPv6 one in brackets: split from the right.
  const parts: string[] = [];
  const bracket = rest.startsWith('[') ? rest.indexOf(']') : -1;
  if (bracket >= 0) {
    parts.push(rest.slice(0, bracket + 1));
    rest = rest.slice(bracket + 2);
    parts.push(...rest.split(':'));
  } else {
    parts.push(...rest.split(':'));
  }
  let ipText = '';
  let hostText = '';
  let containerText: string;
  if (parts.length === 1) containerText = parts[0] ?? '';
  else if (parts.length === 2) [hostText, containerText] = [parts[0] ?? '', parts[1] ?? ''];
  else if (parts.length === 3) [ipText, hostText, containerText] = [parts[0] ?? '', parts[1] ?? '', parts[2] ?? ''];
  else throw new InvalidArgumentError(`invalid IP address: ${parts.slice(0, -2).join(':')}`, { hint });
  if (containerText === '') throw new InvalidArgumentError(`no port specified: ${spec}<empty>`, { hint });
  const hostIp = hostAddress(ipText);
  const [cStart, cEnd] = portRange(containerText, 'containerPort');
  if (hostText === '') return range(cStart, cEnd).map((c) => ({ hostIp, hostPort: 0, containerPort: c, protocol }));
  const [hStart, hEnd] = portRange(hostText, 'hostPort');
  const cLen = cEnd - cStart;
  const hLen = hEnd - hStart;
  if (cLen === 0 && hLen > 0) return [{ hostIp, hostPort: hStart, hostPortEnd: hEnd, containerPort: cStart, protocol }];
  if (hLen !== cLen) throw new InvalidArgumentError(`invalid ranges specified for container and host Ports: ${containerText} and ${hostText}`, { hint });
  return range(cStart, cEnd).map((c, i) => ({ hostIp, hostPort: hStart + i, containerPort: c, protocol }));
}

function parseLong(spec: string): PortBinding {
  let target: number | undefined;
  let published = 0;
  let publishedEnd: number | undefined;
  let protocol: Protocol = 'tcp';
  let hostIp = '';
  for (const field of spec.split(',')) {
    const eq = field.indexOf('=');
    const key = field.slice(0, eq).toLowerCase();
    const value = field.slice(eq + 1);
    if (key === 'target') target = portRange(value, 'target port')[0];
    else if (key === 'published') {
      const [s, e] = portRange(value, 'published port');
      published = s;
      publishedEnd = e === s ? undefined : e;
    } else if (key === 'protocol') protocol = protocolOf(value);
    else if (key === 'host_ip') hostIp = hostAddress(value);
    else if (key === 'mode') {
      if (value !== 'host' && value !== 'ingress') throw new InvalidArgumentError(`invalid publish mode value (${value}): must be either "ingress" or "host"`, { hint });
    } else throw new InvalidArgumentError(`invalid field key: ${key}`, { hint });
  }
  if (target === undefined) throw new InvalidArgumentError('missing mandatory field "target"', { hint });
  return { hostIp, hostPort: published, ...(publishedEnd === undefined ? {} : { hostPortEnd: publishedEnd }), containerPort: target, protocol };
}

function range(from: number, to: number): number[] {
  const out: number[] = [];
  for (let p = from; p <= to; p++) out.push(p);
  return out;
}

/** --expose values and the image's ExposedPorts keys ("80/tcp", "8000-8010/udp") → "port/proto" keys. */
export function parseExpose(spec: string): string[] {
  const slash = spec.lastIndexOf('/');
  const protocol = slash >= 0 ? protocolOf(spec.slice(slash + 1)) : 'tcp';
  const [start, end] = portRange(slash >= 0 ? spec.slice(0, slash) : spec, 'port');
  return range(start, end).map((p) => `${p}/${protocol}`);
}

/** -P: each exposed "port/proto" on a free host port of every address. */
export function publishAll(exposed: Iterable<string>): PortBinding[] {
  const out: PortBinding[] = [];
  for (const key of exposed) {
    for (const e of parseExpose(key)) {
      const [port, protocol] = e.split('/');
      out.push({ hostIp: '', hostPort: 0, containerPort: Number(port), protocol: protocolOf(protocol ?? 'tcp') });
    }
  }
  return out;
}

/** Refuses the same host address, port and protocol twice (docker says so at start). */
export function checkConflicts(bindings: readonly PortBinding[]): void {
  const fixed = bindings.filter((b) => b.hostPort !== 0 && b.hostPortEnd === undefined);
  fixed.forEach((b, i) => {
    const clash = fixed.slice(0, i).some((o) => o.protocol === b.protocol && o.hostPort === b.hostPort && (o.hostIp === '' || b.hostIp === '' || o.hostIp === b.hostIp));
    if (clash) throw new InvalidArgumentError(`Bind for ${hostText(b.hostIp)}:${b.hostPort} failed: port is already allocated`, { hint: 'Publish each host port once' });
  });
}

function hostText(ip: string): string {
  return ip === '' ? '0.0.0.0' : ip;
}

/**
 * docker ps's PORTS column: "0.0.0.0:8080->80/tcp, 443/tcp", consecutive ports grouped into
 * ranges ("0.0.0.0:9000-9001->9000-9001/udp"), exposed but unpublished ports by themselves.
 */
export function formatPortsColumn(bindings: readonly PortBinding[], exposed: readonly string[]): string {
  const published = new Set(bindings.map((b) => `${b.containerPort}/${b.protocol}`));
  type Item = { ip: string; host: number; container: number; protocol: string };
  const items: Item[] = [
    ...bindings.map((b) => ({ ip: hostText(b.hostIp), host: b.hostPort, container: b.containerPort, protocol: b.protocol })),
    ...exposed.filter((e) => !published.has(e)).map((e) => ({ ip: '', host: 0, container: Number(e.split('/')[0]), protocol: e.split('/')[1] ?? 'tcp' })),
  ].sort((a, b) => a.ip.localeCompare(b.ip) || a.protocol.localeCompare(b.protocol) || a.container - b.container);
  const groups: { first: Item; last: Item }[] = [];
  for (const item of items) {
    const g = groups.at(-1);
    const follows = g !== undefined && g.last.ip === item.ip && g.last.protocol === item.protocol && g.last.container + 1 === item.container
      && (item.ip === '' ? true : g.last.host + 1 === item.host);
    if (follows) g.last = item;
    else groups.push({ first: item, last: item });
  }
  const text = groups.map(({ first, last }) => {
    const container = first.container === last.container ? `${first.container}` : `${first.container}-${last.container}`;
    if (first.ip === '') return `${container}/${first.protocol}`;
    const host = first.host === last.host ? `${first.host}` : `${first.host}-${last.host}`;
    return `${first.ip}:${host}->${container}/${first.protocol}`;
  });
  return text.join(', ');
}

/** `docker port C [PORT[/PROTO]]` lines: "80/tcp -> 0.0.0.0:8080" (with a filter, only "0.0.0.0:8080"). */
export function formatPortLines(bindings: readonly PortBinding[], filter?: string): string[] {
  const sorted = [...bindings].sort((a, b) => a.containerPort - b.containerPort || a.protocol.localeCompare(b.protocol) || a.hostPort - b.hostPort);
  if (filter === undefined) return sorted.map((b) => `${b.containerPort}/${b.protocol} -> ${hostText(b.hostIp)}:${b.hostPort}`);
  const [port, protocol = 'tcp'] = filter.split('/');
  return sorted.filter((b) => String(b.containerPort) === port && b.protocol === protocol).map((b) => `${hostText(b.hostIp)}:${b.hostPort}`);
}

/**
 * docker inspect's port maps: `{ "80/tcp": [{ HostIp: "0.0.0.0", HostPort: "8080" }], "443/tcp": null }`.
 * `resolved` bindings (NetworkSettings.Ports) show every address as 0.0.0.0; requested ones
 * (HostConfig.PortBindings) keep "" and "" for a port chosen at start.
 */
export function portMap(bindings: readonly PortBinding[], exposed: readonly string[], resolved: boolean): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const out: Record<string, { HostIp: string; HostPort: string }[] | null> = {};
  for (const e of exposed) out[e] = null;
  for (const b of bindings) {
    const key = `${b.containerPort}/${b.protocol}`;
    const port = b.hostPort === 0 ? '' : b.hostPortEnd !== undefined ? `${b.hostPort}-${b.hostPortEnd}` : String(b.hostPort);
    (out[key] ??= []).push({ HostIp: resolved ? hostText(b.hostIp) : b.hostIp, HostPort: port });
  }
  return out;
}
