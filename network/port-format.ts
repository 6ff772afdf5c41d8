/**
 * How docker shows published ports: ps's PORTS column (formatter.DisplayablePorts),
 * `docker port` (runPort) and inspect's port maps. Parsing is ports.ts's.
 */
import { parseUint16, invalid, splitProtoPort, range, hostText, type PortBinding } from './ports.js';

/** Go's net.JoinHostPort. */
function joinHostPort(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The API's container.Port, as the daemon lists it for ps (container/view.go). */
interface ApiPort { readonly ip: string; readonly privatePort: number; readonly publicPort: number; readonly type: string }

/**
 * docker ps's PORTS column, as formatter.DisplayablePorts makes it: exposed-only ports and
 * ports published on the same host port are grouped into ranges per address and protocol
 * ("443/tcp", "127.0.0.1:9000-9001->9000-9001/udp"), other published ports follow one by one
 * ("0.0.0.0:8080->80/tcp"). `bindings` have their host ports chosen.
 */
export function formatPortsColumn(bindings: readonly PortBinding[], exposed: readonly string[]): string {
  const ports: ApiPort[] = bindings.map((b) => ({ ip: hostText(b.hostIp), privatePort: b.containerPort, publicPort: b.hostPort, type: b.protocol }));
  const published = new Set(bindings.map((b) => `${b.containerPort}/${b.protocol}`));
  for (const key of new Set(exposed)) {
    const [type, port] = splitProtoPort(key);
    const privatePort = parseUint16(port);
    // The daemon skips a key it cannot read ("invalid port map").
    if (privatePort.ok && !published.has(`${port}/${type}`)) ports.push({ ip: '', privatePort: privatePort.value, publicPort: 0, type });
  }
  return displayablePorts(ports);
}

function displayablePorts(ports: ApiPort[]): string {
  // A Map keeps its keys in creation order, as DisplayablePorts' groupMapKeys does.
  const groups = new Map<string, { first: number; last: number }>();
  const result: string[] = [];
  const hostMappings: string[] = [];
  for (const p of [...ports].sort(comparePorts)) {
    let key = p.type;
    if (p.ip !== '') {
      if (p.publicPort !== p.privatePort) {
        hostMappings.push(`${joinHostPort(p.ip, String(p.publicPort))}->${p.privatePort}/${p.type}`);
        continue;
      }
      key = `${p.ip}/${p.type}`;
    }
    const group = groups.get(key);
    if (group !== undefined && p.privatePort === group.last + 1) {
      group.last = p.privatePort;
      continue;
    }
    if (group !== undefined) result.push(formGroup(key, group.first, group.last));
    groups.set(key, { first: p.privatePort, last: p.privatePort });
  }
  for (const [key, g] of groups) result.push(formGroup(key, g.first, g.last));
  return [...result, ...hostMappings].join(', ');
}

function formGroup(key: string, first: number, last: number): string {
  const group = first === last ? `${first}` : `${first}-${last}`;
  const slash = key.indexOf('/');
  if (slash < 0) return `${group}/${key}`;
  return `${joinHostPort(key.slice(0, slash), group)}->${group}/${key.slice(slash + 1)}`;
}

/** DisplayablePorts' order: container port, then host address, host port, protocol (bytewise, as Go compares strings). */
function comparePorts(a: ApiPort, b: ApiPort): number {
  if (a.privatePort !== b.privatePort) return a.privatePort - b.privatePort;
  if (a.ip !== b.ip) return a.ip < b.ip ? -1 : 1;
  if (a.publicPort !== b.publicPort) return a.publicPort - b.publicPort;
  return a.type < b.type ? -1 : a.type > b.type ? 1 : 0;
}

/**
 * `docker port C [PORT[/PROTO]]` lines, as the CLI's runPort makes them: "80/tcp -> 0.0.0.0:8080",
 * or with a filter ("80" means "80/tcp") only that port's addresses ("0.0.0.0:8080"); in natural
 * order (fvbommel/sortorder). The filter matches as text, as docker's map lookup does ("080"
 * and "80/TCP" match nothing); an empty list is for the caller to report.
 * @throws InvalidArgumentError `invalid port (abc): strconv.ParseUint: parsing "abc": invalid syntax`.
 */
export function formatPortLines(bindings: readonly PortBinding[], filter?: string): string[] {
  let wanted: string | undefined;
  if (filter !== undefined && filter !== '') {
    const slash = filter.indexOf('/');
    const port = slash < 0 ? filter : filter.slice(0, slash);
    const proto = slash < 0 || slash === filter.length - 1 ? 'tcp' : filter.slice(slash + 1);
    const parsed = parseUint16(port);
    if (!parsed.ok) throw invalid(`invalid port (${port}): ${parsed.error}`, 'Give a container port, e.g. 80 or 53/udp');
    wanted = `${port}/${proto}`;
  }
  const lines: string[] = [];
  for (const b of bindings) {
    const key = `${b.containerPort}/${b.protocol}`;
    const address = joinHostPort(hostText(b.hostIp), String(b.hostPort));
    if (wanted === undefined) lines.push(`${key} -> ${address}`);
    else if (key === wanted) lines.push(address);
  }
  return lines.sort((a, b) => (naturalLess(a, b) ? -1 : naturalLess(b, a) ? 1 : 0));
}

const isDigit = (s: string, i: number): boolean => i < s.length && s.charCodeAt(i) >= 48 && s.charCodeAt(i) <= 57;

/** fvbommel/sortorder NaturalLess: digit runs compare as numbers (fewer leading zeros first), and before other bytes. */
function naturalLess(a: string, b: string): boolean {
  let i = 0;
  let j = 0;
  while (i < a.length && j < b.length) {
    const [da, db] = [isDigit(a, i), isDigit(b, j)];
    if (da !== db) return da;
    if (!da) {
      if (a[i] !== b[j]) return (a[i] ?? '') < (b[j] ?? '');
      i++;
      j++;
      continue;
    }
    while (a[i] === '0') i++;
    while (b[j] === '0') j++;
    const [na, nb] = [i, j];
    while (isDigit(a, i)) i++;
    while (isDigit(b, j)) j++;
    if (i - na !== j - nb) return i - na < j - nb;
    const [ra, rb] = [a.slice(na, i), b.slice(nb, j)];
    if (ra !== rb) return ra < rb;
    if (na !== nb) return na < nb;
  }
  return a.length < b.length;
}

/**
 * docker inspect's port maps, keys in Go's JSON order (sorted): `{ "443/tcp": null, "80/tcp":
 * [{ HostIp: "0.0.0.0", HostPort: "8080" }] }`. `resolved` bindings (NetworkSettings.Ports,
 * with `exposed` ports as null) show every address as 0.0.0.0; requested ones
 * (HostConfig.PortBindings, `exposed` empty) keep "" for every address, "" for a port chosen
 * at start and "8000-8010" for a range.
 */
export function portMap(bindings: readonly PortBinding[], exposed: readonly string[], resolved: boolean): Record<string, { HostIp: string; HostPort: string }[] | null> {
  const map = new Map<string, { HostIp: string; HostPort: string }[] | null>();
  for (const e of exposed) map.set(e, null);
  for (const b of bindings) {
    const key = `${b.containerPort}/${b.protocol}`;
    const port = b.hostPort === 0 ? '' : b.hostPortEnd !== undefined ? `${b.hostPort}-${b.hostPortEnd}` : String(b.hostPort);
    map.set(key, [...(map.get(key) ?? []), { HostIp: resolved ? hostText(b.hostIp) : b.hostIp, HostPort: port }]);
  }
  const keys = [...map.keys()].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  return Object.fromEntries(keys.map((k) => [k, map.get(k) ?? null]));
}
