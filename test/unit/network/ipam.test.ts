import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../common/errors.js';
import {
  checkMac, checkStaticAddress, contains, formatIpv4, lastAddress, macFor, nextFreeAddress, overlaps, parseInterfaceAddress, parseIpv4, parseRouteTable,
  parseSubnet, subnetFromPools, subnetString,
} from '../../../network/ipam.js';

const ip = (s: string): number => parseIpv4(s) ?? Number.NaN;

describe('IPv4 addresses and subnets', () => {
  it('parses and formats dotted quads, refusing leading zeros and bytes above 255', () => {
    expect(formatIpv4(ip('10.77.0.1'))).toBe('10.77.0.1');
    expect(ip('255.255.255.255')).toBe(0xffffffff);
    for (const bad of ['10.77.0', '10.77.0.256', '010.1.1.1', '1.2.3.4.5', 'a.b.c.d', '']) expect(parseIpv4(bad)).toBeUndefined();
  });

  it('parses subnets, refusing host bits with a hint', () => {
    expect(subnetString(parseSubnet('10.90.0.0/24'))).toBe('10.90.0.0/24');
    expect(() => parseSubnet('10.90.0.1/24')).toThrow(/host bits set/);
    try {
      parseSubnet('10.90.0.1/24');
    } catch (err) {
      expect((err as InvalidArgumentError).hint).toBe('Did you mean 10.90.0.0/24?');
    }
    for (const bad of ['10.90.0.0', '10.90.0.0/33', 'x/8', '10.90.0.0/']) expect(() => parseSubnet(bad)).toThrow(InvalidArgumentError);
  });

  it('parses an interface address (bip) into address and subnet', () => {
    const { address, subnet } = parseInterfaceAddress('10.77.0.1/16', 'bip');
    expect(formatIpv4(address)).toBe('10.77.0.1');
    expect(subnetString(subnet)).toBe('10.77.0.0/16');
    expect(() => parseInterfaceAddress('10.77.0.1/31', 'bip')).toThrow(/prefix length from 1 to 30/);
  });

  it('tells containment and overlap', () => {
    const a = parseSubnet('10.77.0.0/16');
    expect(contains(a, ip('10.77.255.254'))).toBe(true);
    expect(contains(a, ip('10.78.0.1'))).toBe(false);
    expect(overlaps(a, parseSubnet('10.77.5.0/24'))).toBe(true);
    expect(overlaps(parseSubnet('10.77.5.0/24'), a)).toBe(true);
    expect(overlaps(a, parseSubnet('10.78.0.0/24'))).toBe(false);
    expect(overlaps(parseSubnet('0.0.0.0/0'), a)).toBe(true);
    expect(formatIpv4(lastAddress(parseSubnet('10.90.1.0/24')))).toBe('10.90.1.255');
  });
});

describe('address leases', () => {
  const subnet = parseSubnet('10.90.0.0/29');
  const gateway = ip('10.90.0.1');

  it('hands out the lowest free address, never network, gateway or broadcast', () => {
    expect(formatIpv4(nextFreeAddress(subnet, gateway, new Set()) ?? 0)).toBe('10.90.0.2');
    const used = new Set([ip('10.90.0.2'), ip('10.90.0.4')]);
    expect(formatIpv4(nextFreeAddress(subnet, gateway, used) ?? 0)).toBe('10.90.0.3');
    const full = new Set([2, 3, 4, 5, 6].map((n) => ip(`10.90.0.${n}`)));
    expect(nextFreeAddress(subnet, gateway, full)).toBeUndefined();
  });

  it('checks a static address: inside, not reserved, not leased', () => {
    expect(formatIpv4(checkStaticAddress(subnet, gateway, new Set(), '10.90.0.5', 'n'))).toBe('10.90.0.5');
    expect(() => checkStaticAddress(subnet, gateway, new Set(), '10.91.0.5', 'n')).toThrow(/outside network n's subnet 10.90.0.0\/29/);
    expect(() => checkStaticAddress(subnet, gateway, new Set(), '10.90.0.1', 'n')).toThrow(/reserved/);
    expect(() => checkStaticAddress(subnet, gateway, new Set(), '10.90.0.7', 'n')).toThrow(/reserved/);
    expect(() => checkStaticAddress(subnet, gateway, new Set([ip('10.90.0.5')]), '10.90.0.5', 'n')).toThrow(/already in use/);
    expect(() => checkStaticAddress(subnet, gateway, new Set(), 'nope', 'n')).toThrow(/not an IPv4 address/);
  });

  it('makes docker\'s MAC from the address and checks --mac-address', () => {
    expect(macFor(ip('10.77.0.2'))).toBe('02:42:0a:4d:00:02');
    expect(checkMac('02:AA:bb:cc:dd:ee')).toBe('02:aa:bb:cc:dd:ee');
    expect(() => checkMac('01:00:5e:00:00:01')).toThrow(/multicast/);
    expect(() => checkMac('02:42:0a')).toThrow(/six hex bytes/);
  });
});

describe('host routes and pools', () => {
  it('reads /proc/net/route without the default route', () => {
    const table = [
      'Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT',
      'eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0',
      'eth0\t000200C0\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0',
      'berth0\t00004D0A\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0',
    ].join('\n');
    expect(parseRouteTable(table).map((r) => `${r.iface} ${subnetString(r.subnet)}`)).toEqual(['eth0 192.0.2.0/24', 'berth0 10.77.0.0/16']);
  });

  it('takes the first pool subnet that overlaps nothing taken', () => {
    const pools = [{ base: parseSubnet('10.78.0.0/16'), size: 24 }];
    expect(subnetString(subnetFromPools(pools, []) ?? { base: 0, prefix: 0 })).toBe('10.78.0.0/24');
    const taken = [parseSubnet('10.78.0.0/23'), parseSubnet('10.78.3.0/24')];
    expect(subnetString(subnetFromPools(pools, taken) ?? { base: 0, prefix: 0 })).toBe('10.78.2.0/24');
    expect(subnetFromPools([{ base: parseSubnet('10.78.0.0/24'), size: 24 }], [parseSubnet('10.0.0.0/8')])).toBeUndefined();
  });
});
