import { describe, expect, it } from 'vitest';
import { inspectNetwork, listNetworks, networkFilters, type NetworkRecord } from '../../../network/index.js';

function network(name: string, overrides: Partial<NetworkRecord> = {}): NetworkRecord {
  return {
    id: `${name.padEnd(8, '0')}${'12'.repeat(28)}`, name, driver: 'bridge', bridge: `br-${name}`, subnet: '10.88.0.0/24', gateway: '10.88.0.1',
    internal: false, dns: name !== 'bridge', mtu: 0, created: '2024-01-01T00:00:00Z', labels: {}, ...overrides,
  };
}

describe('network ls', () => {
  const records = [network('bridge'), network('front', { labels: { tier: 'web' } }), network('back', { internal: true, labels: { tier: 'db', x: '' } })];
  const names = (filters: string[]): string[] => listNetworks(records, networkFilters(filters)).map((n) => n.name);

  it('lists the store\'s networks, then host and none with fixed ids', () => {
    const all = listNetworks(records, new Map());
    expect(all.map((n) => [n.name, n.driver, n.builtin])).toEqual([
      ['bridge', 'bridge', true], ['front', 'bridge', false], ['back', 'bridge', false], ['host', 'host', true], ['none', 'null', true],
    ]);
    expect(all[3]?.id).toMatch(/^[0-9a-f]{64}$/);
    expect(listNetworks([], new Map())[0]?.id).toBe(all[3]?.id);
  });

  it('filters as docker does: a part of the name, an id prefix, the rest exactly, values of one key as alternatives', () => {
    expect(names(['name=ont'])).toEqual(['front']);
    expect(names(['name=front', 'name=back'])).toEqual(['front', 'back']);
    expect(names([`id=${records[2]?.id.slice(0, 6) ?? ''}`])).toEqual(['back']);
    expect(names(['driver=null'])).toEqual(['none']);
    expect(names(['type=custom'])).toEqual(['front', 'back']);
    expect(names(['type=builtin'])).toEqual(['bridge', 'host', 'none']);
    expect(names(['label=tier=db'])).toEqual(['back']);
    expect(names(['label=tier'])).toEqual(['front', 'back']);
    expect(() => networkFilters(['scope=local'])).toThrow('Invalid filter "scope"');
  });
});

describe('network inspect', () => {
  it('shows docker\'s document with the containers on the network', () => {
    const n = network('front', { mtu: 1400, labels: { a: 'b' } });
    const doc = inspectNetwork(n, {
      endpoints: [
        { networkId: n.id, containerId: 'c1', ip: '10.88.0.2', mac: '02:42:0a:58:00:02', aliases: [], staticIp: false, seq: 0 },
        { networkId: n.id, containerId: 'gone', ip: '10.88.0.3', mac: '02:42:0a:58:00:03', aliases: [], staticIp: false, seq: 1 },
      ],
      containerName: (id) => (id === 'c1' ? 'web' : undefined),
    });
    expect(doc).toMatchObject({
      Name: 'front', Id: n.id, Driver: 'bridge', Scope: 'local', Internal: false, Labels: { a: 'b' },
      IPAM: { Driver: 'default', Options: null, Config: [{ Subnet: '10.88.0.0/24', Gateway: '10.88.0.1' }] },
      Options: { 'com.docker.network.bridge.name': 'br-front', 'com.docker.network.driver.mtu': '1400' },
      Containers: {
        c1: { Name: 'web', MacAddress: '02:42:0a:58:00:02', IPv4Address: '10.88.0.2/24', IPv6Address: '' },
        gone: { Name: '', IPv4Address: '10.88.0.3/24' },
      },
    });
    expect((doc['Containers'] as Record<string, { EndpointID: string }>)['c1']?.EndpointID).toMatch(/^[0-9a-f]{64}$/);
  });
});
