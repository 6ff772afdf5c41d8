/**
 * Networks and containers' places on them: the default network "bridge" and user-defined
 * ones (each a Linux bridge), address leases, the veth pair and network namespace of each
 * running container (made by berth-net, netlink.ts), published ports and berth's nftables
 * table (nft.ts), and the DNS responder of user networks (dns-daemon.ts).
 *
 * Lifetimes, as docker's: a network lives from `network create` (the default one from
 * first use) to `network rm`; a container's lease from create (or connect) to rm (or
 * disconnect); its namespace, veth pairs and published ports from start to stop. Every
 * setup step is undone when a later one fails, and teardown is idempotent, so that a
 * reconcile after a crash can run it again.
 *
 * Stores side by side: each has its own default bridge and subnet, and marks what it makes
 * on the host as its own (stores.ts); what removed stores left, `system prune` reclaims
 * (leftovers.ts).
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { MetadataDb } from '../common/metadata.js';
import type { StateLayout } from '../common/paths.js';
import {
  checkMac, checkStaticAddress, formatIpv4, macFor, nextFreeAddress, overlaps, parseIpv4, parseSubnet, subnetFromPools, subnetString, type AddressPool, type Subnet,
} from './ipam.js';
import { DefaultNetwork, defaultNetworkName } from './default-network.js';
import { reclaimLeftovers } from './leftovers.js';
import { attachInterface, detachInterface, ensureBridge, removeBridge } from './netlink.js';
import { hostBridge, hostRoutes, markBridge, parseStoreMark, storeMark } from './stores.js';
import { applyScript, rulesetScript } from './nft.js';
import { NetworkRecords, type EndpointRecord, type NetworkRecord, type PublishedPort } from './records.js';
import { choosePorts, portTaken } from './publish.js';
import type { PortBinding } from './ports.js';

/** Network settings of the store's configuration (common/config.ts). */
export interface NetworkConfig {
  readonly bridge?: string | undefined;
  readonly bip?: string | undefined;
  readonly defaultAddressPools?: readonly { readonly base: string; readonly size: number }[] | undefined;
  readonly dns?: readonly string[] | undefined;
  readonly mtu?: number | undefined;
}

export interface NetworkManagerDeps {
  readonly db: MetadataDb;
  readonly layout: StateLayout;
  readonly config: NetworkConfig;
  /** The berth-net program (netlink.ts findNetProgram). */
  readonly program: () => string;
  /** berth's nftables table for this store (nft.ts tableName). */
  readonly table: string;
  /** Starts the store's DNS responder, or tells the running one to look at the networks again. */
  readonly ensureDns: () => Promise<void>;
}

/** What `network create` takes. */
export interface CreateNetworkOptions {
  readonly name: string;
  readonly driver?: string | undefined;
  readonly subnet?: string | undefined;
  readonly gateway?: string | undefined;
  readonly internal?: boolean | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  /** Driver options (-o): docker's com.docker.network.driver.mtu and com.docker.network.bridge.name. */
  readonly options?: Readonly<Record<string, string>> | undefined;
}

/** A container's request for a place on a network (create's --network, --ip, ...; connect). */
export interface EndpointRequest {
  readonly network: string;
  readonly ip?: string | undefined;
  readonly mac?: string | undefined;
  readonly aliases?: readonly string[] | undefined;
}

/** A container's place on a network, with the network. */
export interface Attachment {
  readonly network: NetworkRecord;
  readonly endpoint: EndpointRecord;
}

const defaultPools: readonly AddressPool[] = [{ base: { base: 0x0a4e0000, prefix: 16 }, size: 24 }]; // 10.78.0.0/16 in /24s
/** docker's MTU: of the default route, for traffic that leaves the host. */
const defaultMtu = 1500;
/**
 * The MTU of bridges and veth pairs: traffic that stays on the host (container to host,
 * container to container on a bridge, published ports reached from the host) goes in
 * packets as large as loopback's, about 45 times fewer than at 1500, which doubles its
 * throughput (bench:network). What leaves the host takes the default route, whose MTU is
 * docker's 1500 (or the configured one), so TCP's MSS and path MTU are as with docker.
 */
const hostMtu = 65520;
const networkNameRe = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

function hash(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The host side of a container's veth pair on a network: unique per container and network. */
export function hostInterfaceName(containerId: string, networkId: string): string {
  return `veth${hash(`${containerId}/${networkId}`).slice(0, 11)}`;
}

function bridgeExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The MTU of the interface of the host's default route, if it has one. */
function uplinkMtu(): number | undefined {
  try {
    const line = readFileSync('/proc/net/route', 'utf8').split('\n').slice(1).map((l) => l.trim().split(/\s+/)).find((f) => f[1] === '00000000' && f[7] === '00000000');
    const mtu = line?.[0] === undefined ? Number.NaN : Number(readFileSync(`/sys/class/net/${line[0]}/mtu`, 'utf8'));
    return Number.isInteger(mtu) && mtu >= 576 ? mtu : undefined;
  } catch {
    return undefined;
  }
}

/** Networks and containers' endpoints, ports and namespaces. */
export class NetworkManager {
  readonly #deps: NetworkManagerDeps;
  readonly #default: DefaultNetwork;
  readonly records: NetworkRecords;

  constructor(deps: NetworkManagerDeps) {
    this.#deps = deps;
    this.records = new NetworkRecords(deps.db);
    this.#default = new DefaultNetwork({
      db: deps.db, records: this.records, layout: deps.layout, config: deps.config,
      checkSubnet: (subnet, own) => this.#checkSubnet(subnet, defaultNetworkName, own),
      removeBridge: (name) => removeBridge(deps.program(), name),
    });
  }

  /**
   * The MTU of a network's default route (what leaves the host): its own
   * (`-o com.docker.network.driver.mtu`), else the configuration's, else that of the host's
   * own way out (the interface of its default route) when smaller than docker's 1500: a
   * host behind a 1400-byte uplink would otherwise drop its containers' full-size packets.
   */
  #mtu(network: NetworkRecord): number {
    if (network.mtu > 0) return network.mtu;
    return this.#deps.config.mtu ?? Math.min(defaultMtu, uplinkMtu() ?? defaultMtu);
  }

  /** This store's root, absolute: what its marks name (stores.ts). */
  get #root(): string {
    return this.#default.root;
  }

  /** The default network, recorded on first use (default-network.ts). */
  defaultNetwork(): NetworkRecord {
    return this.#default.record();
  }

  /** Every network (the default one first made if needed). */
  list(): NetworkRecord[] {
    this.defaultNetwork();
    return this.records.list();
  }

  /** A network by name, id or id prefix; "bridge" is the default one. */
  find(input: string): NetworkRecord {
    if (input === defaultNetworkName) return this.defaultNetwork();
    return this.records.find(input);
  }

  /**
   * Refuses a subnet that overlaps another network's, or a route of the host that is not
   * one of berth's own bridges (docker: "Pool overlaps with other one on this address space").
   */
  #checkSubnet(subnet: Subnet, name: string, own: readonly string[] = []): void {
    for (const n of this.records.list()) {
      if (n.name === name) continue;
      if (overlaps(parseSubnet(n.subnet), subnet)) {
        throw new InvalidArgumentError(`Subnet ${subnetString(subnet)} of network ${name} overlaps network ${n.name}'s ${n.subnet}`, { hint: 'Choose another --subnet' });
      }
    }
    const ours = new Set([...this.records.list().map((n) => n.bridge), ...own]);
    for (const r of hostRoutes()) {
      if (ours.has(r.iface)) continue;
      if (overlaps(r.subnet, subnet)) {
        throw new InvalidArgumentError(`Subnet ${subnetString(subnet)} of network ${name} overlaps the host's route to ${subnetString(r.subnet)} on ${r.iface}`, {
          hint: name === defaultNetworkName ? 'Set another "bip" in berth\'s config.json' : 'Choose another --subnet',
        });
      }
    }
  }

  /** docker network create (bridge driver). */
  create(options: CreateNetworkOptions): NetworkRecord {
    const { name } = options;
    if (!networkNameRe.test(name)) throw new InvalidArgumentError(`Invalid network name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    if (name === 'none' || name === 'host' || name === defaultNetworkName) {
      throw new InvalidArgumentError(`network name ${name} is reserved`, { hint: 'Choose another name' });
    }
    const driver = options.driver ?? 'bridge';
    if (driver !== 'bridge') throw new InvalidArgumentError(`Unsupported network driver "${driver}"`, { hint: 'berth networks use the bridge driver (-d bridge)' });
    if (options.gateway !== undefined && options.subnet === undefined) {
      throw new InvalidArgumentError('--gateway needs --subnet', { hint: 'Give the subnet the gateway is in' });
    }
    this.defaultNetwork();
    return this.#deps.db.transaction(() => {
      if (this.records.byName(name) !== undefined) throw new FailedPreconditionError(`network with name ${name} already exists`);
      let subnet: Subnet;
      if (options.subnet !== undefined) {
        subnet = parseSubnet(options.subnet, '--subnet');
        if (subnet.prefix > 30) throw new InvalidArgumentError(`Subnet ${options.subnet} is too small: it leaves no address for containers`, { hint: 'Use a prefix length of at most 30' });
        this.#checkSubnet(subnet, name);
      } else {
        const taken = [...this.records.list().map((n) => parseSubnet(n.subnet)), ...hostRoutes().map((r) => r.subnet)];
        const found = subnetFromPools(this.#pools(), taken);
        if (found === undefined) throw new FailedPreconditionError('No free subnet is left in the address pools', { hint: 'Give --subnet, or add to "default-address-pools" in berth\'s config.json' });
        subnet = found;
      }
      let gateway = subnet.base + 1;
      if (options.gateway !== undefined) {
        const g = parseIpv4(options.gateway);
        if (g === undefined) throw new InvalidArgumentError(`Invalid --gateway "${options.gateway}": not an IPv4 address`);
        gateway = checkStaticAddress(subnet, -1, new Set(), options.gateway, name);
      }
      const id = randomBytes(32).toString('hex');
      const { mtu, bridge } = driverOptions(options.options ?? {});
      if (bridge !== undefined && bridgeExists(bridge)) throw new FailedPreconditionError(`The host already has an interface named ${bridge}`, { hint: 'Choose another com.docker.network.bridge.name' });
      const record: NetworkRecord = {
        id, name, driver, bridge: bridge ?? `br-${id.slice(0, 12)}`, subnet: subnetString(subnet), gateway: formatIpv4(gateway),
        internal: options.internal === true, dns: true, mtu, created: new Date().toISOString(), labels: { ...(options.labels ?? {}) },
      };
      this.records.insert(record);
      this.#applyRules();
      return record;
    });
  }

  #pools(): readonly AddressPool[] {
    const pools = this.#deps.config.defaultAddressPools;
    if (pools === undefined) return defaultPools;
    return pools.map((p) => ({ base: parseSubnet(p.base, 'default-address-pools base'), size: p.size }));
  }

  /** docker network rm: refuses a network with containers, and the default one. */
  async remove(input: string, containerName: (id: string) => string): Promise<NetworkRecord> {
    const network = this.find(input);
    if (network.name === defaultNetworkName) throw new FailedPreconditionError(`${network.name} is a pre-defined network and cannot be removed`);
    const users = this.records.endpoints(network.id);
    if (users.length > 0) {
      const names = users.map((e) => containerName(e.containerId));
      throw new FailedPreconditionError(`error while removing network: network ${network.name} id ${network.id} has active endpoints (${names.join(', ')})`, {
        hint: `Remove or disconnect them first ("berth network disconnect ${network.name} ${names[0] ?? ''}")`,
      });
    }
    this.#deps.db.transaction(() => {
      this.records.delete(network.id);
      this.#applyRules();
    });
    removeBridge(this.#deps.program(), network.bridge);
    // The responder stops listening on the gateway (and ends with the last user network).
    if (network.dns) await this.#deps.ensureDns();
    return network;
  }

  /** docker network prune: every user network no container is on. */
  async prune(): Promise<NetworkRecord[]> {
    const removed: NetworkRecord[] = [];
    for (const n of this.records.list()) {
      if (n.name === defaultNetworkName || this.records.endpoints(n.id).length > 0) continue;
      removed.push(await this.remove(n.id, (id) => id));
    }
    return removed;
  }

  /**
   * Leases an address on a network for a container (create, connect). Checks --ip and
   * --mac-address; refuses a second place on the same network.
   */
  allocate(containerId: string, request: EndpointRequest): Attachment {
    const network = this.find(request.network);
    // The default network's bridge comes with its first lease (docker0 with dockerd), so
    // that the host's route claims the subnet before another store can choose it too.
    if (network.name === defaultNetworkName && hostBridge(network.bridge).kind === 'absent') this.#ensureBridge(network);
    return this.#deps.db.transaction(() => {
      if (this.records.endpointsOf(containerId).some((e) => e.networkId === network.id)) {
        throw new FailedPreconditionError(`The container is already connected to network ${network.name}`);
      }
      const subnet = parseSubnet(network.subnet);
      const gateway = parseIpv4(network.gateway) ?? 0;
      const used = new Set(this.records.endpoints(network.id).map((e) => parseIpv4(e.ip) ?? 0));
      let address: number;
      if (request.ip !== undefined && request.ip !== '') {
        if (network.name === defaultNetworkName) {
          throw new InvalidArgumentError('user specified IP address is supported on user defined networks only', { hint: 'Create a network with "berth network create --subnet ..." and use --network' });
        }
        address = checkStaticAddress(subnet, gateway, used, request.ip, network.name);
      } else {
        const free = nextFreeAddress(subnet, gateway, used);
        if (free === undefined) throw new FailedPreconditionError(`No address is left on network ${network.name} (${network.subnet})`, { hint: 'Remove containers from it, or use a network with a larger subnet' });
        address = free;
      }
      const endpoint = {
        networkId: network.id, containerId, ip: formatIpv4(address), mac: request.mac !== undefined && request.mac !== '' ? checkMac(request.mac) : macFor(address),
        aliases: [...(request.aliases ?? [])], staticIp: request.ip !== undefined && request.ip !== '',
      };
      if (network.name === defaultNetworkName && endpoint.aliases.length > 0) {
        throw new InvalidArgumentError('network-scoped aliases are only supported for user-defined networks');
      }
      this.records.insertEndpoint(endpoint);
      const inserted = this.records.endpointsOf(containerId).find((e) => e.networkId === network.id);
      if (inserted === undefined) throw new Error('endpoint vanished');
      return { network, endpoint: inserted };
    });
  }

  /** The container's networks, in order (the first gives the default route). */
  attachments(containerId: string): Attachment[] {
    return this.records.endpointsOf(containerId).flatMap((endpoint) => {
      const network = this.records.byId(endpoint.networkId);
      return network === undefined ? [] : [{ network, endpoint }];
    });
  }

  /** Releases a removed container's leases (and ports, should any be left). */
  release(containerId: string): void {
    this.#deps.db.transaction(() => {
      this.records.deleteEndpointsOf(containerId);
      if (this.records.deletePortsOf(containerId) > 0) this.#applyRules();
    });
  }

  /**
   * Makes the network's bridge when it is missing, marked as this store's, with berth's
   * rules (after a reboot, or first use). Refuses a bridge another store marked, and a
   * subnet that a route of the host has taken since the network was recorded.
   */
  #ensureBridge(network: NetworkRecord): void {
    const host = hostBridge(network.bridge);
    const mine = storeMark(this.#root);
    // Never take over another interface of the host by name.
    if (host.kind === 'other') throw new FailedPreconditionError(`The host's interface ${network.bridge} of network ${network.name} is not a bridge`, { hint: 'Give the network another bridge name' });
    if (host.kind === 'bridge') {
      if (host.mark === mine) return;
      const mark = parseStoreMark(host.mark);
      if (mark !== undefined) {
        throw new FailedPreconditionError(`The host's bridge ${network.bridge} of network ${network.name} belongs to berth store "${mark.root ?? '?'}"`, {
          hint: network.name === defaultNetworkName
            ? `Remove this store's containers on it, so that it gets a bridge of its own, or set another "bridge" in ${this.#deps.layout.configFile()}`
            : 'Remove the network and create it with another com.docker.network.bridge.name',
        });
      }
      // Unmarked: made by a berth from before marks. It is this store's when it has the name
      // the store would give it (not the berth0 that other stores once shared).
      if (network.name !== defaultNetworkName || network.bridge === this.#default.bridge) markBridge(network.bridge, this.#root);
      return;
    }
    const clash = hostRoutes().find((r) => overlaps(r.subnet, parseSubnet(network.subnet)));
    // Another berth process of this store made the bridge between the look above and the
    // routes: its route is the network's own. Look at the bridge again, as one that exists.
    if (clash !== undefined && clash.iface === network.bridge && hostBridge(network.bridge).kind !== 'absent') {
      this.#ensureBridge(network);
      return;
    }
    if (clash !== undefined) {
      const chosen = network.name === defaultNetworkName && this.#default.chosen;
      throw new FailedPreconditionError(`Cannot make bridge ${network.bridge} of network ${network.name}: its subnet ${network.subnet} overlaps the host's route to ${subnetString(clash.subnet)} on ${clash.iface}`, {
        hint: chosen
          ? 'Remove the containers on the network ("berth rm"), so that berth chooses another subnet; "berth system prune" reclaims the bridges of removed stores'
          : 'Remove what holds the route, or the network ("berth system prune" reclaims the bridges of removed stores)',
      });
    }
    const prefix = network.subnet.split('/')[1] ?? '';
    ensureBridge(this.#deps.program(), { name: network.bridge, address: `${network.gateway}/${prefix}`, mtu: hostMtu });
    markBridge(network.bridge, this.#root);
    // DNAT to a container of connections to 127.0.0.1 needs the bridge to route loopback
    // sources (docker sets the same with its userland proxy off); the table's guard chain
    // drops packets from bridges to 127.0.0.0/8.
    writeFileSync(`/proc/sys/net/ipv4/conf/${network.bridge}/route_localnet`, '1');
    writeFileSync('/proc/sys/net/ipv4/ip_forward', '1');
    this.#deps.db.transaction(() => this.#applyRules());
  }

  /** Writes berth's nftables table from the records. Call inside a transaction (it serializes writers). */
  #applyRules(): void {
    const networks = this.records.list().map((n) => ({ bridge: n.bridge, subnet: n.subnet, internal: n.internal }));
    // A container's ports go to its address on its first network (the one it was created on).
    const ips = new Map<string, EndpointRecord>();
    for (const e of this.records.allEndpoints()) if (!ips.has(e.containerId)) ips.set(e.containerId, e);
    const ports = this.records.ports().flatMap((p) => {
      const e = ips.get(p.containerId);
      return e === undefined ? [] : [{ protocol: p.protocol, hostIp: p.hostIp, hostPort: p.hostPort, containerIp: e.ip, containerPort: p.containerPort }];
    });
    applyScript(rulesetScript(this.#deps.table, { networks, ports, mark: storeMark(this.#root) }));
  }

  /**
   * The bridges and nftables tables that removed stores left on the host (`rm -rf` of a
   * root): removed, and listed for `system prune` (leftovers.ts says what is never touched).
   */
  reclaimRemovedStores(): string[] {
    return reclaimLeftovers(this.#deps.program, this.#root);
  }

  /**
   * Sets up a container's network before it starts: its namespace at `netns`, a veth pair
   * on each of its networks' bridges, and its published ports. Returns the ports as
   * published (with the host ports chosen for "-p 80"). Undoes everything on failure.
   */
  async setup(containerId: string, netns: string, ports: readonly PortBinding[]): Promise<PublishedPort[]> {
    const attachments = this.attachments(containerId);
    const program = this.#deps.program();
    try {
      for (const [i, { network, endpoint }] of attachments.entries()) {
        this.#ensureBridge(network);
        const prefix = network.subnet.split('/')[1] ?? '';
        await attachInterface(program, {
          netns, create: i === 0, bridge: network.bridge, hostIf: hostInterfaceName(containerId, network.id), ifName: `eth${i}`, mac: endpoint.mac,
          address: `${endpoint.ip}/${prefix}`, gateway: i === 0 && !network.internal ? network.gateway : undefined, routeMtu: this.#mtu(network), mtu: hostMtu,
        });
      }
      const published = ports.length === 0 ? [] : await this.#publish(containerId, ports);
      if (attachments.some((a) => a.network.dns)) await this.#deps.ensureDns();
      return published;
    } catch (err) {
      await this.teardown(containerId, netns);
      throw err;
    }
  }

  /** Chooses free host ports and records the container's ports, then writes the rules. */
  async #publish(containerId: string, bindings: readonly PortBinding[]): Promise<PublishedPort[]> {
    const chosen = await choosePorts(containerId, bindings, this.records.ports());
    this.#deps.db.transaction(() => {
      for (const p of chosen) {
        try {
          this.records.insertPort(p);
        } catch (err) {
          // Another berth took the port between the check and now.
          throw portTaken(p.hostIp, p.hostPort, err);
        }
      }
      this.#applyRules();
    });
    return chosen;
  }

  /**
   * Undoes {@link setup}: the published ports and their rules, the veth pairs and the
   * namespace. Idempotent; the leases stay (they go with the container).
   */
  async teardown(containerId: string, netns: string): Promise<void> {
    this.#deps.db.transaction(() => {
      if (this.records.deletePortsOf(containerId) > 0) this.#applyRules();
    });
    // Unmounting the namespace is enough: once the container's processes are gone it goes,
    // and the kernel deletes its veth pairs with it (in the background, where deleting each
    // host end here would wait out an RCU grace period apiece, 20-50 ms).
    await detachInterface(this.#deps.program(), { netns, removeNetns: true });
  }

  /**
   * docker network connect of a running container: a lease and a veth pair into its
   * namespace (eth<N> with the lowest free N). A container that is not running only gets
   * the lease; its next start sets the interface up.
   */
  async connect(containerId: string, request: EndpointRequest, live: { netns: string; pid: number } | undefined): Promise<Attachment> {
    const attachment = this.allocate(containerId, request);
    if (live === undefined) return attachment;
    try {
      const { network, endpoint } = attachment;
      this.#ensureBridge(network);
      const prefix = network.subnet.split('/')[1] ?? '';
      await attachInterface(this.#deps.program(), {
        netns: live.netns, create: false, bridge: network.bridge, hostIf: hostInterfaceName(containerId, network.id), ifName: freeInterfaceName(live.pid),
        mac: endpoint.mac, address: `${endpoint.ip}/${prefix}`, mtu: hostMtu,
      });
      if (network.dns) await this.#deps.ensureDns();
      return attachment;
    } catch (err) {
      this.records.deleteEndpoint(attachment.network.id, containerId);
      throw err;
    }
  }

  /** docker network disconnect: the veth pair (if it is up) and the lease. */
  async disconnect(containerId: string, input: string): Promise<NetworkRecord> {
    const network = this.find(input);
    if (!this.records.endpointsOf(containerId).some((e) => e.networkId === network.id)) {
      throw new NotFoundError(`container is not connected to network ${network.name}`);
    }
    await detachInterface(this.#deps.program(), { netns: '/nonexistent', hostIf: hostInterfaceName(containerId, network.id), removeNetns: false });
    this.#deps.db.transaction(() => {
      this.records.deleteEndpoint(network.id, containerId);
      if (this.records.portsOf(containerId).length > 0) this.#applyRules();
    });
    return network;
  }

  /**
   * After a crash: the namespaces (`netnsIds`, this store's containers' only: the
   * directory is shared by stores) and ports of containers that are not running are torn
   * down, the leases of containers that are gone released, and the rules written again.
   * Returns what was cleaned.
   */
  async reconcile(running: (containerId: string) => boolean | undefined, netnsIds: readonly string[]): Promise<string[]> {
    const cleaned: string[] = [];
    for (const id of netnsIds) {
      if (running(id) !== false) continue;
      await this.teardown(id, this.#deps.layout.netnsPath(id));
      cleaned.push(`network namespace ${id}`);
    }
    for (const e of this.records.allEndpoints()) {
      if (running(e.containerId) !== undefined) continue;
      this.release(e.containerId);
      cleaned.push(`address lease ${e.ip} of removed container ${e.containerId}`);
    }
    this.#deps.db.transaction(() => {
      for (const p of this.records.ports()) {
        if (running(p.containerId) !== true) this.records.deletePortsOf(p.containerId);
      }
      if (this.records.list().length > 0) this.#applyRules();
    });
    return cleaned;
  }

  /** Upstream name servers for containers: the configuration's "dns", else the host's. */
  get upstreamDns(): readonly string[] | undefined {
    return this.#deps.config.dns;
  }
}

/** docker's bridge driver options that berth takes (`network create -o KEY=VALUE`). */
function driverOptions(options: Readonly<Record<string, string>>): { mtu: number; bridge?: string } {
  let mtu = 0;
  let bridge: string | undefined;
  for (const [key, value] of Object.entries(options)) {
    if (key === 'com.docker.network.driver.mtu') {
      mtu = Number(value);
      if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new InvalidArgumentError(`Invalid MTU "${value}": give an integer from 576 to 65535`);
    } else if (key === 'com.docker.network.bridge.name') {
      if (!/^[A-Za-z0-9_.-]{1,15}$/.test(value)) throw new InvalidArgumentError(`Invalid bridge name "${value}": at most 15 letters, digits, _ . -`);
      bridge = value;
    } else {
      throw new InvalidArgumentError(`Unsupported network option "${key}"`, { hint: 'berth takes com.docker.network.driver.mtu and com.docker.network.bridge.name' });
    }
  }
  return bridge === undefined ? { mtu } : { mtu, bridge };
}

/** The lowest ethN that the container's namespace does not have (from its /proc/PID/net/dev). */
function freeInterfaceName(pid: number): string {
  let names = new Set<string>();
  try {
    names = new Set(readFileSync(`/proc/${pid}/net/dev`, 'utf8').split('\n').slice(2).map((l) => l.split(':')[0]?.trim() ?? ''));
  } catch {
    // gone: the attach fails with its own message
  }
  for (let i = 0; ; i++) if (!names.has(`eth${i}`)) return `eth${i}`;
}
