/**
 * A container's network as the engine composes it: the mode (`--network none|host|
 * container:NAME|NETWORK`), its published ports, and the /etc/hosts and /etc/resolv.conf it
 * gets. The plumbing (bridges, leases, veth pairs, nftables, DNS) is network/'s.
 */
import { InvalidArgumentError } from '../common/errors.js';
import { checkConflicts, parseIpv4, publishAll, type Attachment, type PortBinding } from '../network/index.js';
import { hostsFile, resolvConfFrom } from './etc.js';

/** What run/create take about the network (docker's flags). */
export interface NetworkRequest {
  /** --network: none, host, container:NAME, or a network's name (default "bridge"). */
  readonly mode?: string | undefined;
  /** -p values, parsed (network/ports.ts parsePublish). */
  readonly ports?: readonly PortBinding[] | undefined;
  /** -P: every exposed port on a free host port. */
  readonly publishAll?: boolean | undefined;
  /** --expose values ("80/tcp"), besides the image's ExposedPorts. */
  readonly expose?: readonly string[] | undefined;
  readonly dns?: readonly string[] | undefined;
  readonly dnsSearch?: readonly string[] | undefined;
  readonly dnsOptions?: readonly string[] | undefined;
  /** --add-host values, "host:ip" (or "host=ip"). */
  readonly addHosts?: readonly string[] | undefined;
  readonly ip?: string | undefined;
  readonly mac?: string | undefined;
  /** --network-alias. */
  readonly aliases?: readonly string[] | undefined;
}

/** The network part of a container's recorded config. */
export interface NetworkConfig {
  readonly portBindings: readonly PortBinding[];
  readonly publishAll: boolean;
  /** Exposed ports, "port/proto": the image's and --expose's. */
  readonly exposedPorts: readonly string[];
  readonly dns: readonly string[];
  readonly dnsSearch: readonly string[];
  readonly dnsOptions: readonly string[];
  readonly extraHosts: readonly { readonly host: string; readonly ip: string }[];
  readonly ipAddress: string;
  readonly macAddress: string;
  readonly aliases: readonly string[];
}

export type NetworkMode =
  | { readonly kind: 'none' }
  | { readonly kind: 'host' }
  | { readonly kind: 'container'; readonly target: string }
  | { readonly kind: 'network'; readonly name: string };

/** Parses --network (docker's "default" is the default network, "bridge"). */
export function parseNetworkMode(mode: string): NetworkMode {
  if (mode === 'none') return { kind: 'none' };
  if (mode === 'host') return { kind: 'host' };
  if (mode.startsWith('container:')) {
    const target = mode.slice('container:'.length);
    if (target === '') throw new InvalidArgumentError('--network container: needs a container name or id', { hint: 'Use --network container:NAME' });
    return { kind: 'container', target };
  }
  if (mode === '' || mode === 'default') return { kind: 'network', name: 'bridge' };
  return { kind: 'network', name: mode };
}

/** Parses --add-host "name:ip" (docker also takes "name=ip"); "host-gateway" is the host's address on the bridge. */
export function parseAddHost(value: string, hostGateway: string): { host: string; ip: string } {
  const sep = value.includes('=') ? value.indexOf('=') : value.indexOf(':');
  const host = sep < 0 ? '' : value.slice(0, sep);
  let ip = sep < 0 ? '' : value.slice(sep + 1);
  if (ip === 'host-gateway') ip = hostGateway;
  if (host === '' || !/^[a-zA-Z0-9]([a-zA-Z0-9_.-]*)$/.test(host)) throw new InvalidArgumentError(`invalid argument "${value}" for "--add-host" flag: bad host name`, { hint: 'Use --add-host NAME:IP' });
  if (parseIpv4(ip) === undefined) throw new InvalidArgumentError(`invalid argument "${value}" for "--add-host" flag: invalid IP address in add-host: "${ip}"`, { hint: 'Use --add-host NAME:IP' });
  return { host, ip };
}

/** The recorded network config of a create request; checks what it can before anything is made. */
export function networkConfig(request: NetworkRequest, imageExposed: Readonly<Record<string, unknown>> | undefined, hostGateway: string): NetworkConfig {
  const exposed = [...new Set([...Object.keys(imageExposed ?? {}), ...(request.expose ?? [])])];
  // The same host port twice is refused before anything is made (docker finds it only at start).
  checkConflicts(request.ports ?? []);
  for (const d of request.dns ?? []) {
    if (parseIpv4(d) === undefined) throw new InvalidArgumentError(`${d} is not an ip address`, { hint: '--dns takes IPv4 addresses' });
  }
  return {
    portBindings: [...(request.ports ?? [])], publishAll: request.publishAll === true, exposedPorts: exposed,
    dns: [...(request.dns ?? [])], dnsSearch: [...(request.dnsSearch ?? [])], dnsOptions: [...(request.dnsOptions ?? [])],
    extraHosts: (request.addHosts ?? []).map((h) => parseAddHost(h, hostGateway)), ipAddress: request.ip ?? '', macAddress: request.mac ?? '',
    aliases: [...(request.aliases ?? [])],
  };
}

/** The ports to publish at start: -p's, and with -P every exposed port not already published. */
export function portsToPublish(config: NetworkConfig): PortBinding[] {
  if (!config.publishAll) return [...config.portBindings];
  const published = new Set(config.portBindings.map((b) => `${b.containerPort}/${b.protocol}`));
  return [...config.portBindings, ...publishAll(config.exposedPorts.filter((e) => !published.has(e)))];
}

/** /etc/hosts: the container's address on each network under its hostname, and --add-host's. */
export function containerHosts(hostname: string, attachments: readonly Attachment[], net: NetworkConfig | undefined): string {
  return hostsFile(hostname, attachments.map((a) => a.endpoint.ip), net?.extraHosts ?? []);
}

/**
 * /etc/resolv.conf: on a user network, berth's DNS responder on the gateway (which forwards
 * what it does not know to --dns's servers or the host's); else --dns's servers, the
 * configuration's "dns", or the host's, as docker does.
 */
export function containerResolvConf(hostResolv: string, attachments: readonly Attachment[], net: NetworkConfig | undefined, configDns: readonly string[] | undefined): string {
  const search = net !== undefined && net.dnsSearch.length > 0 ? net.dnsSearch : undefined;
  const options = net !== undefined && net.dnsOptions.length > 0 ? net.dnsOptions : undefined;
  const resolver = attachments.find((a) => a.network.dns);
  const dns = resolver !== undefined ? [resolver.network.gateway] : net !== undefined && net.dns.length > 0 ? net.dns : configDns;
  return resolvConfFrom(hostResolv, { ...(dns === undefined ? {} : { dns }), ...(search === undefined ? {} : { search }), ...(options === undefined ? {} : { options }) });
}
