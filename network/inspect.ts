/**
 * docker's network documents: `network inspect` (the API's GET /networks/{id}) and what
 * `network ls` (GET /networks) lists, with its filters and docker's two networks without
 * a bridge, host and none.
 */
import { createHash } from 'node:crypto';
import { parseFilters } from '../common/filters.js';
import type { EndpointRecord, NetworkRecord } from './records.js';

/** What {@link inspectNetwork} shows of a network's containers. */
export interface NetworkInspectOptions {
  /** The network's endpoints (NetworkRecords.endpoints). */
  readonly endpoints: readonly EndpointRecord[];
  /** The name of the container with this id; undefined when it is gone. */
  readonly containerName: (id: string) => string | undefined;
}

/** docker's network inspect document. */
export function inspectNetwork(n: NetworkRecord, options: NetworkInspectOptions): Record<string, unknown> {
  const containers: Record<string, unknown> = {};
  for (const e of options.endpoints) {
    containers[e.containerId] = {
      Name: options.containerName(e.containerId) ?? '', EndpointID: createHash('sha256').update(`${n.id}/${e.containerId}`).digest('hex'), MacAddress: e.mac,
      IPv4Address: `${e.ip}/${n.subnet.split('/')[1] ?? ''}`, IPv6Address: '',
    };
  }
  return {
    Name: n.name, Id: n.id, Created: n.created, Scope: 'local', Driver: n.driver, EnableIPv6: false,
    IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: n.internal, Attachable: false, Ingress: false, ConfigFrom: { Network: '' }, ConfigOnly: false, Containers: containers,
    Options: { 'com.docker.network.bridge.name': n.bridge, ...(n.mtu > 0 ? { 'com.docker.network.driver.mtu': String(n.mtu) } : {}) }, Labels: n.labels,
  };
}

/** A network as `network ls` lists it. */
export interface NetworkListing {
  readonly id: string;
  readonly name: string;
  readonly driver: string;
  readonly internal: boolean;
  readonly labels: Readonly<Record<string, string>>;
  /** One of docker's own (bridge, host, none), not a user's. */
  readonly builtin: boolean;
}

/** docker lists host and none besides the bridges; they have no records, so fixed ids. */
const pseudoNetworks = ['host', 'none'].map((name) => ({ name, driver: name === 'none' ? 'null' : 'host', id: createHash('sha256').update(`berth-network-${name}`).digest('hex') }));

/** `network ls --filter key=value` (the API's filters as key=value texts): name, id, driver, label, type. */
export function networkFilters(filters: readonly string[]): Map<string, string[]> {
  return parseFilters(filters, ['name', 'id', 'driver', 'label', 'type']);
}

/** The networks `network ls` shows: the store's, then host and none, that pass `filters` ({@link networkFilters}). */
export function listNetworks(networks: readonly NetworkRecord[], filters: ReadonlyMap<string, readonly string[]>): NetworkListing[] {
  const all: NetworkListing[] = [
    ...networks.map((n) => ({ id: n.id, name: n.name, driver: n.driver, internal: n.internal, labels: n.labels, builtin: n.name === 'bridge' })),
    ...pseudoNetworks.map((n) => ({ ...n, internal: false, labels: {} as Record<string, string>, builtin: true })),
  ];
  // docker's rules: name matches a part of the name, id a prefix, the rest exactly; values of one key are alternatives.
  const pass = (key: string, test: (value: string) => boolean): boolean => (filters.get(key) ?? []).length === 0 || (filters.get(key) ?? []).some(test);
  return all.filter((n) => pass('name', (v) => n.name.includes(v)) && pass('id', (v) => n.id.startsWith(v)) && pass('driver', (v) => n.driver === v)
    && pass('type', (v) => (v === 'builtin') === n.builtin) && pass('label', (v) => {
      const eq = v.indexOf('=');
      return eq < 0 ? v in n.labels : n.labels[v.slice(0, eq)] === v.slice(eq + 1);
    }));
}
