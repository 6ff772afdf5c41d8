/**
 * Published ports: docker's `-p`, `--expose` and `-P` syntax, and the ways docker shows them
 * (ps's PORTS column, `docker port`, inspect's port maps). Pure. Each function follows the
 * code docker 28.2.2 runs: go-connections v0.5.0 `nat.ParsePortSpec` (vendored by docker/cli
 * v28.2.2), the CLI's `convertToStandardNotation` and --expose loop
 * (cli/command/container/opts.go), `formatter.DisplayablePorts` and `runPort`; the error
 * messages are theirs, word for word. Where berth departs, a comment says so and why.
 * berth is IPv4-only for now: an IPv6 host address other than "::" is refused.
 */
import { InvalidArgumentError } from '../common/errors.js';
import { formatIpv4, parseIpv4 } from './ipam.js';

export type Protocol = 'tcp' | 'udp' | 'sctp';

/**
 * One container port published on one host address. `hostPort` 0 is any free port, chosen
 * at start; with `hostPortEnd`, any free one of hostPort..hostPortEnd ("-p 8000-8010:80").
 * `hostIp` '' is every address (0.0.0.0).
 */
export interface PortBinding {
  readonly hostIp: string;
  readonly hostPort: number;
  readonly hostPortEnd?: number | undefined;
  readonly containerPort: number;
  readonly protocol: Protocol;
}

const shortHint = 'Use -p [ip:][hostPort:]containerPort[/tcp|udp|sctp], e.g. -p 8080:80 or -p 127.0.0.1:5353:53/udp';
const longHint = 'Use -p published=HOSTPORT,target=CONTAINERPORT[,protocol=udp][,host_ip=IP], e.g. -p published=8080,target=80';
const ipHint = 'Give an IPv4 address such as 127.0.0.1, or leave the address out to publish on all addresses';
const protoHint = 'Use tcp, udp or sctp, e.g. -p 5353:53/udp';
const exposeHint = 'Use --expose PORT[/PROTO] or --expose START-END[/PROTO], e.g. --expose 8000-8010/udp';

export function invalid(message: string, hint: string): InvalidArgumentError {
  return new InvalidArgumentError(message, { hint });
}

function isProtocol(p: string): p is Protocol {
  return p === 'tcp' || p === 'udp' || p === 'sctp';
}

/** nat.SplitProtoPort (v0.5.0): "80/udp" → ["udp", "80"]; a third part is ignored, as there. */
export function splitProtoPort(raw: string): [proto: string, port: string] {
  const [port = '', proto] = raw.split('/');
  if (port === '') return ['', ''];
  return [proto === undefined || proto === '' ? 'tcp' : proto, port];
}

export type Parsed<T> = { readonly ok: true; readonly value: T } | { readonly ok: false; readonly error: string };

/** Go's strconv.ParseUint(text, 10, 16), with Go's error text. */
export function parseUint16(text: string): Parsed<number> {
  if (!/^[0-9]+$/.test(text)) return { ok: false, error: `strconv.ParseUint: parsing ${JSON.stringify(text)}: invalid syntax` };
  const n = Number(text);
  if (n > 0xffff) return { ok: false, error: `strconv.ParseUint: parsing ${JSON.stringify(text)}: value out of range` };
  return { ok: true, value: n };
}

/** nat.ParsePortRange: "80" or "8000-8010" (a third part is ignored, as there). */
function parsePortRange(text: string): Parsed<[number, number]> {
  if (text === '') return { ok: false, error: 'empty string specified for ports' };
  const [first = '', second] = text.split('-');
  const start = parseUint16(first);
  if (!start.ok) return start;
  const end = second === undefined ? start : parseUint16(second);
  if (!end.ok) return end;
  if (end.value < start.value) return { ok: false, error: `invalid range specified for port: ${text}` };
  return { ok: true, value: [start.value, end.value] };
}

/** The host of Go's net.SplitHostPort(ip + ":") for an `ip` that starts with "[", as ParsePortSpec strips brackets. */
function stripBrackets(ip: string): Parsed<string> {
  const hostport = `${ip}:`;
  const fail = (why: string): Parsed<string> => ({ ok: false, error: `address ${hostport}: ${why}` });
  const end = hostport.indexOf(']');
  if (end < 0) return fail("missing ']' in address");
  if (end + 1 !== hostport.length - 1) return fail(hostport[end + 1] === ':' ? 'too many colons in address' : 'missing port in address');
  if (hostport.indexOf('[', 1) >= 0) return fail("unexpected '[' in address");
  return { ok: true, value: hostport.slice(1, end) };
}

/** Go's net.ParseIP for IPv6 text: the eight 16-bit groups, or undefined. */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2 || text.includes('%')) return undefined;
  // An IPv4 address may end the text ("::ffff:1.2.3.4"), and stands for two groups.
  const groups = (part: string, last: boolean): number[] | undefined => {
    if (part === '') return [];
    const out: number[] = [];
    const texts = part.split(':');
    for (const [i, g] of texts.entries()) {
      const v4 = last && i === texts.length - 1 && g.includes('.') ? parseIpv4(g) : undefined;
      if (v4 !== undefined) out.push(v4 >>> 16, v4 & 0xffff);
      else if (/^[0-9a-fA-F]{1,4}$/.test(g)) out.push(parseInt(g, 16));
      else return undefined;
    }
    return out;
  };
  const head = groups(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? groups(halves[1] ?? '', true) : [];
  if (head === undefined || tail === undefined) return undefined;
  // "::" stands for at least one zero group.
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  return [...head, ...Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

/**
 * berth's own check of a host address docker accepted: every address ("0.0.0.0", "::") is '',
 * an IPv4-mapped IPv6 one is its IPv4 address (docker binds those as IPv4 too), other IPv6
 * ones are refused.
 */
function hostAddress(ip: string): string {
  if (ip === '') return '';
  const v4 = parseIpv4(ip);
  const v6 = v4 === undefined ? parseIpv6(ip) : undefined;
  const isMapped = v6 !== undefined && v6.slice(0, 5).every((g) => g === 0) && v6[5] === 0xffff;
  const mapped = isMapped ? formatIpv4((v6[6] ?? 0) * 0x10000 + (v6[7] ?? 0)) : undefined;
  if (v6 !== undefined && mapped === undefined && !v6.every((g) => g === 0)) {
    throw invalid('IPv6 host addresses are not supported yet', `berth publishes on IPv4 only: give an IPv4 address such as 127.0.0.1 instead of "${ip}", or leave the address out`);
  }
  const address = v4 !== undefined ? ip : mapped ?? '';
  return address === '0.0.0.0' ? '' : address;
}

/**
 * nat.ParsePortSpec (v0.5.0), in its order of checks; `raw` is what its messages quote.
 * berth departs twice, after docker's checks: container port 0 is refused (docker leaves it
 * to fail at start), and so is a host range from 0 with one container port (the daemon's
 * port allocator refuses it at start with "invalid port range").
 */
function parsePortSpec(raw: string, hint: string): PortBinding[] {
  const parts = raw.split(':');
  const n = parts.length;
  let ip = n >= 3 ? parts.slice(0, n - 2).join(':') : '';
  const hostText = n >= 2 ? parts[n - 2] ?? '' : '';
  const [proto, containerText] = splitProtoPort(parts[n - 1] ?? '');
  if (ip.startsWith('[')) {
    const stripped = stripBrackets(ip);
    if (!stripped.ok) throw invalid(`invalid IP address ${ip}: ${stripped.error}`, ipHint);
    ip = stripped.value;
  }
  if (ip !== '' && parseIpv4(ip) === undefined && parseIpv6(ip) === undefined) throw invalid(`invalid IP address: ${ip}`, ipHint);
  if (containerText === '') throw invalid(`no port specified: ${raw}<empty>`, hint);
  const container = parsePortRange(containerText);
  if (!container.ok || container.value[0] === 0) throw invalid(`invalid containerPort: ${containerText}`, `${hint}; container ports go from 1 to 65535`);
  const [cStart, cEnd] = container.value;
  let [hStart, hEnd] = [0, 0];
  if (hostText !== '') {
    const host = parsePortRange(hostText);
    if (!host.ok) throw invalid(`invalid hostPort: ${hostText}`, `${hint}; host ports go from 1 to 65535`);
    [hStart, hEnd] = host.value;
    // A host range with one container port is the range to pick a free port from.
    if (hEnd - hStart !== cEnd - cStart && cEnd !== cStart) {
      throw invalid(`invalid ranges specified for container and host Ports: ${containerText} and ${hostText}`,
        'Give ranges of the same length (-p 8000-8001:80-81), or one container port with a host range to pick from (-p 8000-8010:80)');
    }
  }
  const protocol = proto.toLowerCase();
  if (!isProtocol(protocol)) throw invalid(`invalid proto: ${proto}`, protoHint);
  const hostIp = hostAddress(ip);
  if (cStart === cEnd && hStart !== hEnd) {
    if (hStart === 0) throw invalid(`invalid port range: ${hStart}-${hEnd}`, 'Start the host port range at 1 or above, e.g. -p 8000-8010:80');
    return [{ hostIp, hostPort: hStart, hostPortEnd: hEnd, containerPort: cStart, protocol }];
  }
  return range(cStart, cEnd).map((c, i) => ({ hostIp, hostPort: hostText === '' ? 0 : hStart + i, containerPort: c, protocol }));
}

/**
 * The CLI's convertToStandardNotation: "published=8080,target=80,protocol=udp" becomes
 * "8080:80/udp", and ParsePortSpec then checks it (its messages quote the converted text).
 * Keys are case-sensitive and unknown ones (mode=…) are ignored, as there. berth departs in
 * one way: docker run ignores host_ip, berth publishes on it ("IP:8080:80/udp"), since
 * ignoring it would publish on every address a port the user meant to keep local.
 */
function standardNotation(spec: string): string {
  const params = new Map<string, string>([['protocol', 'tcp']]);
  for (const param of spec.split(',')) {
    const eq = param.indexOf('=');
    if (eq <= 0) throw invalid(`invalid publish opts format (should be name=value but got '${param}')`, longHint);
    params.set(param.slice(0, eq), param.slice(eq + 1));
  }
  const ports = `${params.get('published') ?? ''}:${params.get('target') ?? ''}/${params.get('protocol') ?? ''}`;
  const hostIp = params.get('host_ip');
  return hostIp === undefined ? ports : `${hostIp}:${ports}`;
}

/**
 * docker's -p / --publish value: "[ip:][hostPort[-end]:]containerPort[-end][/proto]" (IPv6
 * host addresses in brackets), or the long "published=8080,target=80,protocol=udp,host_ip=IP"
 * (any value with "=" in it). One binding per container port; a host range with one container
 * port is one binding with `hostPortEnd`.
 * @throws InvalidArgumentError with docker's message and a hint.
 */
export function parsePublish(spec: string): PortBinding[] {
  if (spec.includes('=')) return parsePortSpec(standardNotation(spec), longHint);
  return parsePortSpec(spec, shortHint);
}

export function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/** An --expose value or ExposedPorts key, checked; see {@link parseExpose}. */
function exposedRange(spec: string): { readonly protocol: Protocol; readonly ports: number[] } {
  if (spec.includes(':')) throw invalid(`invalid port format for --expose: ${spec}`, exposeHint);
  const [proto, port] = splitProtoPort(spec);
  const ports = parsePortRange(port);
  if (!ports.ok) throw invalid(`invalid range format for --expose: ${spec}, error: ${ports.error}`, exposeHint);
  const [start, end] = ports.value;
  if (start === 0) throw invalid(`invalid range format for --expose: ${spec}, error: port 0 cannot be exposed`, exposeHint);
  const protocol = proto.toLowerCase();
  if (!isProtocol(protocol)) throw invalid(`invalid proto: ${proto}`, 'Use tcp, udp or sctp, e.g. --expose 53/udp');
  return { protocol, ports: range(start, end) };
}

/**
 * --expose values and the image's ExposedPorts keys ("80", "80/tcp", "8000-8010/udp") →
 * "port/proto" keys, one per port, as the CLI's --expose loop makes them. docker passes any
 * protocol through (and keeps its case) and accepts port 0; berth lowercases the protocol and
 * refuses others and port 0, as it could not publish them.
 * @throws InvalidArgumentError with docker's message and a hint.
 */
export function parseExpose(spec: string): string[] {
  const { protocol, ports } = exposedRange(spec);
  return ports.map((p) => `${p}/${protocol}`);
}

/** -P: each exposed "port/proto" key published on a free host port of every address. */
export function publishAll(exposed: Iterable<string>): PortBinding[] {
  return [...exposed].flatMap((key) => {
    const { protocol, ports } = exposedRange(key);
    return ports.map((containerPort): PortBinding => ({ hostIp: '', hostPort: 0, containerPort, protocol }));
  });
}

/**
 * Refuses one host port taken twice for the same protocol (by two fixed bindings on the same
 * address, or on one address and on every address), with the message docker's port allocator
 * gives at start. Bindings to any port, or to a free one of a range, never clash here.
 * @throws InvalidArgumentError "Bind for 0.0.0.0:8080 failed: port is already allocated".
 */
export function checkConflicts(bindings: readonly PortBinding[]): void {
  const fixed = bindings.filter((b) => b.hostPort !== 0 && b.hostPortEnd === undefined);
  fixed.forEach((b, i) => {
    const clash = fixed.slice(0, i).some((o) => o.protocol === b.protocol && o.hostPort === b.hostPort && (o.hostIp === '' || b.hostIp === '' || o.hostIp === b.hostIp));
    if (clash) throw invalid(`Bind for ${hostText(b.hostIp)}:${b.hostPort} failed: port is already allocated`, `Publish host port ${b.hostPort}/${b.protocol} once, and give the other container port another host port`);
  });
}

/** How docker shows all addresses. */
export function hostText(ip: string): string {
  return ip === '' ? '0.0.0.0' : ip;
}
