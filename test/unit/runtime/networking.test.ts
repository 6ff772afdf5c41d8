import { describe, expect, it } from 'vitest';
import type { Attachment } from '../../../network/index.js';
import { containerHosts, containerResolvConf, networkConfig, parseAddHost, parseNetworkMode, portsToPublish } from '../../../runtime/networking.js';

const attachment = (name: string, ip: string, dns: boolean): Attachment => ({
  network: { id: 'n', name, driver: 'bridge', bridge: 'b', subnet: '10.1.0.0/24', gateway: '10.1.0.1', internal: false, dns, mtu: 0, created: '', labels: {} },
  endpoint: { networkId: 'n', containerId: 'c', ip, mac: '02:42:0a:01:00:02', aliases: [], staticIp: false, seq: 1 },
});

describe('--network', () => {
  it('parses none, host, container:NAME, default and names', () => {
    expect(parseNetworkMode('none')).toEqual({ kind: 'none' });
    expect(parseNetworkMode('host')).toEqual({ kind: 'host' });
    expect(parseNetworkMode('container:web')).toEqual({ kind: 'container', target: 'web' });
    expect(parseNetworkMode('default')).toEqual({ kind: 'network', name: 'bridge' });
    expect(parseNetworkMode('app')).toEqual({ kind: 'network', name: 'app' });
    expect(() => parseNetworkMode('container:')).toThrow(/needs a container name/);
  });
});

describe('--add-host', () => {
  it('takes name:ip, name=ip and host-gateway, and refuses bad ones with docker\'s words', () => {
    expect(parseAddHost('db:10.0.0.5', '10.77.0.1')).toEqual({ host: 'db', ip: '10.0.0.5' });
    expect(parseAddHost('db=10.0.0.5', '10.77.0.1')).toEqual({ host: 'db', ip: '10.0.0.5' });
    expect(parseAddHost('gw:host-gateway', '10.77.0.1')).toEqual({ host: 'gw', ip: '10.77.0.1' });
    expect(() => parseAddHost('db', '')).toThrow(/invalid argument "db" for "--add-host" flag/);
    expect(() => parseAddHost('db:nope', '')).toThrow(/invalid IP address in add-host: "nope"/);
  });
});

describe('a container\'s network config and /etc files', () => {
  it('merges the image\'s exposed ports with --expose, and -P publishes the unpublished ones', () => {
    const net = networkConfig({ ports: [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }], publishAll: true, expose: ['53/udp'] }, { '80/tcp': {}, '443/tcp': {} }, '10.77.0.1');
    expect(net.exposedPorts).toEqual(['80/tcp', '443/tcp', '53/udp']);
    expect(portsToPublish(net)).toEqual([
      { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' },
      { hostIp: '', hostPort: 0, containerPort: 443, protocol: 'tcp' },
      { hostIp: '', hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]);
    expect(() => networkConfig({ dns: ['dns.example'] }, undefined, '')).toThrow(/dns.example is not an ip address/);
    const twice = [8080, 8080].map((hostPort, i) => ({ hostIp: '', hostPort, containerPort: 80 + i, protocol: 'tcp' as const }));
    expect(() => networkConfig({ ports: twice }, undefined, '')).toThrow(/Bind for 0.0.0.0:8080 failed: port is already allocated/);
  });

  it('writes the addresses and --add-host lines to /etc/hosts', () => {
    const net = networkConfig({ addHosts: ['db:10.0.0.5'] }, undefined, '');
    const hosts = containerHosts('box', [attachment('bridge', '10.1.0.2', false), attachment('app', '10.2.0.2', true)], net);
    expect(hosts).toContain('10.0.0.5\tdb\n');
    expect(hosts).toContain('10.1.0.2\tbox\n10.2.0.2\tbox\n');
  });

  it('points resolv.conf at the gateway on a user network, else at --dns, the configuration\'s or the host\'s servers', () => {
    const host = 'nameserver 192.0.2.53\nnameserver 127.0.0.53\nsearch corp\n';
    const plain = networkConfig({}, undefined, '');
    expect(containerResolvConf(host, [attachment('app', '10.1.0.2', true)], plain, undefined)).toBe('nameserver 10.1.0.1\nsearch corp\n');
    expect(containerResolvConf(host, [attachment('bridge', '10.1.0.2', false)], plain, undefined)).toBe('nameserver 192.0.2.53\nsearch corp\n');
    expect(containerResolvConf(host, [attachment('bridge', '10.1.0.2', false)], plain, ['192.0.2.1'])).toBe('nameserver 192.0.2.1\nsearch corp\n');
    const own = networkConfig({ dns: ['192.0.2.9'], dnsSearch: ['x.example'], dnsOptions: ['ndots:2'] }, undefined, '');
    expect(containerResolvConf(host, [], own, ['192.0.2.1'])).toBe('nameserver 192.0.2.9\nsearch x.example\noptions ndots:2\n');
  });
});
