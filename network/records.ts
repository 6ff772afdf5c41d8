/**
 * Networks, endpoints (a container's address lease on a network) and published ports in
 * the metadata database (common/metadata.ts has the schema).
 */
import { AlreadyExistsError, NotFoundError } from '../common/errors.js';
import type { MetadataDb } from '../common/metadata.js';

export interface NetworkRecord {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly bridge: string;
  readonly subnet: string;
  readonly gateway: string;
  readonly internal: boolean;
  /** Containers resolve each other's names (user networks; not the default "bridge"). */
  readonly dns: boolean;
  /** The MTU of its containers' default route (`-o com.docker.network.driver.mtu`); 0: the configuration's. */
  readonly mtu: number;
  readonly created: string;
  readonly labels: Readonly<Record<string, string>>;
}

export interface EndpointRecord {
  readonly networkId: string;
  readonly containerId: string;
  readonly ip: string;
  readonly mac: string;
  readonly aliases: readonly string[];
  readonly staticIp: boolean;
  /** Orders a container's networks: the first one gives the default route. */
  readonly seq: number;
}

export interface PublishedPort {
  readonly containerId: string;
  readonly protocol: string;
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerPort: number;
}

function network(row: Record<string, unknown>): NetworkRecord {
  return {
    id: String(row['id']), name: String(row['name']), driver: String(row['driver']), bridge: String(row['bridge']),
    subnet: String(row['subnet']), gateway: String(row['gateway']), internal: row['internal'] === 1, dns: row['dns'] === 1, mtu: Number(row['mtu'] ?? 0),
    created: String(row['created']), labels: JSON.parse(String(row['labels'])) as Record<string, string>,
  };
}

function endpoint(row: Record<string, unknown>): EndpointRecord {
  return {
    networkId: String(row['network_id']), containerId: String(row['container_id']), ip: String(row['ip']), mac: String(row['mac']),
    aliases: JSON.parse(String(row['aliases'])) as string[], staticIp: row['static_ip'] === 1, seq: Number(row['seq']),
  };
}

function port(row: Record<string, unknown>): PublishedPort {
  return {
    containerId: String(row['container_id']), protocol: String(row['protocol']), hostIp: String(row['host_ip']),
    hostPort: Number(row['host_port']), containerPort: Number(row['container_port']),
  };
}

/** Queries of the network tables. */
export class NetworkRecords {
  readonly #db: MetadataDb;

  constructor(db: MetadataDb) {
    this.#db = db;
  }

  list(): NetworkRecord[] {
    return this.#db.all('SELECT * FROM networks ORDER BY created, name').map(network);
  }

  byName(name: string): NetworkRecord | undefined {
    const row = this.#db.get('SELECT * FROM networks WHERE name = ?', name);
    return row === undefined ? undefined : network(row);
  }

  byId(id: string): NetworkRecord | undefined {
    const row = this.#db.get('SELECT * FROM networks WHERE id = ?', id);
    return row === undefined ? undefined : network(row);
  }

  /** By name, full id or unique id prefix (docker's rule). */
  find(input: string): NetworkRecord {
    const exact = this.byName(input) ?? this.byId(input);
    if (exact !== undefined) return exact;
    if (/^[0-9a-f]{1,63}$/.test(input)) {
      const rows = this.#db.all('SELECT * FROM networks WHERE id LIKE ? LIMIT 2', `${input}%`);
      if (rows.length === 1 && rows[0] !== undefined) return network(rows[0]);
      if (rows.length > 1) throw new NotFoundError(`Network id prefix "${input}" is ambiguous`, { hint: 'Give more of the id, or the name' });
    }
    throw new NotFoundError(`network ${input} not found`, { hint: '"berth network ls" lists the networks' });
  }

  insert(n: NetworkRecord): void {
    try {
      this.#db.run(
        'INSERT INTO networks (id, name, driver, bridge, subnet, gateway, internal, dns, mtu, created, labels) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)',
        n.id, n.name, n.driver, n.bridge, n.subnet, n.gateway, n.internal ? 1 : 0, n.dns ? 1 : 0, n.mtu, n.created, JSON.stringify(n.labels),
      );
    } catch (err) {
      if (err instanceof Error && /UNIQUE constraint failed: networks\.name/.test(err.message)) {
        throw new AlreadyExistsError(`network with name ${n.name} already exists`, { cause: err });
      }
      if (err instanceof Error && /UNIQUE constraint failed: networks\.bridge/.test(err.message)) {
        throw new AlreadyExistsError(`A network with bridge ${n.bridge} already exists`, { cause: err });
      }
      throw err;
    }
  }

  delete(id: string): void {
    this.#db.run('DELETE FROM networks WHERE id = ?', id);
  }

  endpoints(networkId: string): EndpointRecord[] {
    return this.#db.all('SELECT * FROM endpoints WHERE network_id = ? ORDER BY seq', networkId).map(endpoint);
  }

  endpointsOf(containerId: string): EndpointRecord[] {
    return this.#db.all('SELECT * FROM endpoints WHERE container_id = ? ORDER BY seq', containerId).map(endpoint);
  }

  allEndpoints(): EndpointRecord[] {
    return this.#db.all('SELECT * FROM endpoints ORDER BY seq').map(endpoint);
  }

  insertEndpoint(e: Omit<EndpointRecord, 'seq'>): void {
    this.#db.run(
      'INSERT INTO endpoints (network_id, container_id, ip, mac, aliases, static_ip) VALUES (?, ?, ?, ?, ?, ?)',
      e.networkId, e.containerId, e.ip, e.mac, JSON.stringify(e.aliases), e.staticIp ? 1 : 0,
    );
  }

  deleteEndpoint(networkId: string, containerId: string): void {
    this.#db.run('DELETE FROM endpoints WHERE network_id = ? AND container_id = ?', networkId, containerId);
  }

  deleteEndpointsOf(containerId: string): void {
    this.#db.run('DELETE FROM endpoints WHERE container_id = ?', containerId);
  }

  ports(): PublishedPort[] {
    return this.#db.all('SELECT * FROM published_ports ORDER BY host_port, protocol').map(port);
  }

  portsOf(containerId: string): PublishedPort[] {
    return this.#db.all('SELECT * FROM published_ports WHERE container_id = ? ORDER BY container_port, protocol, host_ip', containerId).map(port);
  }

  insertPort(p: PublishedPort): void {
    this.#db.run(
      'INSERT INTO published_ports (container_id, protocol, host_ip, host_port, container_port) VALUES (?, ?, ?, ?, ?)',
      p.containerId, p.protocol, p.hostIp, p.hostPort, p.containerPort,
    );
  }

  deletePortsOf(containerId: string): number {
    return this.#db.run('DELETE FROM published_ports WHERE container_id = ?', containerId);
  }
}
