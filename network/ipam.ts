/**
 * IPv4 address arithmetic and address management: subnets, overlap checks against the
 * host's routes and other networks, and the choice of a container's address and MAC. Pure:
 * the leases themselves are rows of the metadata database (records.ts).
 */
import { InvalidArgumentError } from '../common/errors.js';

/** An IPv4 subnet: `base` is the network address, as a 32-bit unsigned number. */
export interface Subnet {
  readonly base: number;
  readonly prefix: number;
}

/** The 32-bit number of a dotted-quad address, or undefined when it is not one. */
export function parseIpv4(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (m === null) return undefined;
  let n = 0;
  for (let i = 1; i <= 4; i++) {
    const part = m[i] ?? '';
    // "010" is octal to inet_aton and decimal to others: refuse it, as Go's net.ParseIP does.
    if (part.length > 1 && part.startsWith('0')) return undefined;
    const byte = Number(part);
    if (byte > 255) return undefined;
    n = n * 256 + byte;
  }
  return n;
}

export function formatIpv4(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

function mask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/**
 * Parses "a.b.c.d/n", refusing host bits set in the address ("10.0.0.1/8") as docker
 * refuses them in --subnet. `what` names the value in errors.
 */
export function parseSubnet(text: string, what = 'subnet'): Subnet {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  const address = m === null ? undefined : parseIpv4(m[1] ?? '');
  const prefix = Number(m?.[2]);
  if (address === undefined || !(prefix >= 0 && prefix <= 32)) {
    throw new InvalidArgumentError(`Invalid ${what} "${text}": not an IPv4 CIDR such as 10.90.0.0/24`);
  }
  const base = (address & mask(prefix)) >>> 0;
  if (base !== address) {
    throw new InvalidArgumentError(`Invalid ${what} "${text}": it has host bits set`, { hint: `Did you mean ${formatIpv4(base)}/${prefix}?` });
  }
  return { base, prefix };
}

/** "a.b.c.d/n" with host bits (an interface address such as docker's "bip": 10.77.0.1/16). */
export function parseInterfaceAddress(text: string, what: string): { address: number; subnet: Subnet } {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(text);
  const address = m === null ? undefined : parseIpv4(m[1] ?? '');
  const prefix = Number(m?.[2]);
  if (address === undefined || !(prefix >= 1 && prefix <= 30)) {
    throw new InvalidArgumentError(`Invalid ${what} "${text}": not an IPv4 address with a prefix length from 1 to 30, such as 10.77.0.1/16`);
  }
  return { address, subnet: { base: (address & mask(prefix)) >>> 0, prefix } };
}

export function subnetString(s: Subnet): string {
  return `${formatIpv4(s.base)}/${s.prefix}`;
}

/** The last address of the subnet (its broadcast address). */
export function lastAddress(s: Subnet): number {
  return (s.base | ~mask(s.prefix)) >>> 0;
}

export function contains(s: Subnet, address: number): boolean {
  return ((address & mask(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const prefix = Math.min(a.prefix, b.prefix);
  return ((a.base & mask(prefix)) >>> 0) === ((b.base & mask(prefix)) >>> 0);
}

/** A route of the host's main table (/proc/net/route), without the default route. */
export interface HostRoute {
  readonly iface: string;
  readonly subnet: Subnet;
}

/** Parses /proc/net/route: little-endian hex destinations and masks. The default route is left out. */
export function parseRouteTable(text: string): HostRoute[] {
  const routes: HostRoute[] = [];
  for (const line of text.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const dest = swap(Number.parseInt(f[1] ?? '', 16));
    const m = swap(Number.parseInt(f[7] ?? '', 16));
    if (Number.isNaN(dest) || Number.isNaN(m) || m === 0) continue;
    const prefix = 32 - Math.log2(((~m) >>> 0) + 1);
    if (!Number.isInteger(prefix)) continue;
    routes.push({ iface: f[0] ?? '', subnet: { base: dest, prefix } });
  }
  return routes;
}

function swap(n: number): number {
  return (((n & 0xff) << 24) | ((n & 0xff00) << 8) | ((n >>> 8) & 0xff00) | ((n >>> 24) & 0xff)) >>> 0;
}

/**
 * The lowest free address of `subnet` for a container: not the network address, the
 * broadcast address, the gateway or one in `used`. Docker hands addresses out in order
 * too (libnetwork's bitmap allocator); it only moves on past released ones, which berth
 * does not need because a lease lives until the container is removed.
 */
export function nextFreeAddress(subnet: Subnet, gateway: number, used: ReadonlySet<number>): number | undefined {
  const last = lastAddress(subnet);
  for (let a = subnet.base + 1; a < last; a++) {
    if (a !== gateway && !used.has(a)) return a;
  }
  return undefined;
}

/** Checks a requested --ip against the network: inside it, not reserved, not leased. */
export function checkStaticAddress(subnet: Subnet, gateway: number, used: ReadonlySet<number>, text: string, network: string): number {
  const a = parseIpv4(text);
  if (a === undefined) throw new InvalidArgumentError(`Invalid --ip "${text}": not an IPv4 address`);
  if (!contains(subnet, a)) {
    throw new InvalidArgumentError(`Address ${text} is outside network ${network}'s subnet ${subnetString(subnet)}`, { hint: 'Give an --ip inside the subnet ("berth network inspect" shows it)' });
  }
  if (a === subnet.base || a === lastAddress(subnet) || a === gateway) {
    throw new InvalidArgumentError(`Address ${text} is reserved on network ${network} (network, broadcast or gateway address)`);
  }
  if (used.has(a)) throw new InvalidArgumentError(`Address ${text} is already in use on network ${network}`, { hint: 'Give another --ip, or leave it out for a free one' });
  return a;
}

/** A MAC address from the IPv4 address, docker's way: 02:42 and the address's four bytes. */
export function macFor(address: number): string {
  return ['02', '42', ...[address >>> 24, (address >>> 16) & 255, (address >>> 8) & 255, address & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}

/** Checks --mac-address: six hex bytes, unicast. Returns it lowercased. */
export function checkMac(text: string): string {
  if (!/^[0-9a-fA-F]{2}(?::[0-9a-fA-F]{2}){5}$/.test(text)) throw new InvalidArgumentError(`Invalid --mac-address "${text}": use six hex bytes such as 02:42:0a:4d:00:05`);
  if ((Number.parseInt(text.slice(0, 2), 16) & 1) === 1) throw new InvalidArgumentError(`Invalid --mac-address "${text}": it is a multicast address`);
  return text.toLowerCase();
}

/** Where docker-style address pools hand out subnets for networks made without --subnet. */
export interface AddressPool {
  readonly base: Subnet;
  readonly size: number;
}

/** The first `size`-prefix subnet of the pools that overlaps neither `taken` nor a host route. */
export function subnetFromPools(pools: readonly AddressPool[], taken: readonly Subnet[]): Subnet | undefined {
  for (const pool of pools) {
    const step = 2 ** (32 - pool.size);
    const end = lastAddress(pool.base);
    for (let base = pool.base.base; base <= end; base += step) {
      const candidate = { base, prefix: pool.size };
      if (!taken.some((t) => overlaps(t, candidate))) return candidate;
    }
  }
  return undefined;
}

/**
 * The subnet of a default network whose configuration sets no "bip": `preferred` (the
 * default store's 10.77.0.0/16) when it overlaps nothing `taken`, else the first free
 * `size`-prefix subnet of the pools, as docker's default bridge takes the first free pool.
 * Undefined when every one is taken.
 */
export function chooseSubnet(preferred: Subnet | undefined, pools: readonly AddressPool[], taken: readonly Subnet[]): Subnet | undefined {
  if (preferred !== undefined && !taken.some((t) => overlaps(t, preferred))) return preferred;
  return subnetFromPools(pools, taken);
}
