import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { chooseSubnet, overlaps, parseSubnet, subnetFromPools, subnetString } from '../../../network/ipam.js';
import { chooseLeftovers, parseTableMark, parseTableNames } from '../../../network/leftovers.js';
import { tableName } from '../../../network/nft.js';
import { defaultStoreSubnet, isStoreGone, parseStoreMark, storeBridgeName, storeMark, storePools } from '../../../network/stores.js';

const sha = (s: string): string => createHash('sha256').update(s).digest('hex');
const subnets = (...list: string[]) => list.map((s) => parseSubnet(s));

describe('the default network of each store', () => {
  it('is berth0 for the default store and a bridge per root otherwise, named with the digits of its table', () => {
    expect(storeBridgeName('/var/lib/berth')).toBe('berth0');
    const bridge = storeBridgeName('/tmp/a');
    expect(bridge).toMatch(/^berth[0-9a-f]{10}$/);
    expect(bridge.length).toBeLessThanOrEqual(15);
    expect(`berth_${bridge.slice(5)}`).toBe(tableName('/tmp/a', '/var/lib/berth', sha));
    expect(storeBridgeName('/tmp/b')).not.toBe(bridge);
  });

  it('takes 10.77.0.0/16 for the default store while it is free, else the first free /16 of the stores\' pool', () => {
    expect(subnetString(defaultStoreSubnet)).toBe('10.77.0.0/16');
    expect(subnetString(chooseSubnet(defaultStoreSubnet, storePools, []) ?? defaultStoreSubnet)).toBe('10.77.0.0/16');
    // docker's default bridge moves on the same way when 172.17.0.0/16 is someone's route.
    expect(subnetString(chooseSubnet(defaultStoreSubnet, storePools, subnets('10.77.3.0/24')) ?? defaultStoreSubnet)).toBe('10.79.0.0/16');
  });

  it('gives another store the first /16 from 10.79.0.0 that nothing overlaps, never 10.77 or 10.78', () => {
    const pick = (...taken: string[]): string | undefined => {
      const s = chooseSubnet(undefined, storePools, subnets(...taken));
      return s === undefined ? undefined : subnetString(s);
    };
    expect(pick()).toBe('10.79.0.0/16');
    expect(pick('10.77.0.0/16', '10.78.0.0/24')).toBe('10.79.0.0/16');
    expect(pick('10.79.0.0/16')).toBe('10.80.0.0/16');
    expect(pick('10.79.0.0/16', '10.80.200.0/24', '10.81.0.0/16')).toBe('10.82.0.0/16');
    // A wider route of the host (a VPN's 10.64.0.0/10) covers them all.
    expect(pick('10.64.0.0/10')).toBeUndefined();
    const all: string[] = [];
    for (let s = subnetFromPools(storePools, []); s !== undefined; s = subnetFromPools(storePools, subnets(...all))) all.push(subnetString(s));
    expect(all).toHaveLength(17);
    expect(all.at(-1)).toBe('10.95.0.0/16');
    for (const s of all) {
      expect(overlaps(parseSubnet(s), parseSubnet('10.77.0.0/16'))).toBe(false);
      expect(overlaps(parseSubnet(s), parseSubnet('10.78.0.0/16'))).toBe(false);
    }
  });
});

describe('the store mark of berth\'s bridges and tables', () => {
  it('names the absolute root and reads back, percent-encoding what is not a plain path character', () => {
    expect(storeMark('/var/lib/berth')).toBe('berth store /var/lib/berth');
    expect(parseStoreMark('berth store /var/lib/berth\n')).toEqual({ root: '/var/lib/berth' });
    const odd = '/tmp/a "b"\\c%d\u00e9';
    const mark = storeMark(odd);
    expect(mark).toMatch(/^berth store [A-Za-z0-9/._~+,@=:%-]+$/);
    expect(parseStoreMark(mark)).toEqual({ root: odd });
    expect(storeMark('rel/dir')).toBe(`berth store ${process.cwd()}/rel/dir`);
  });

  it('is berth\'s but names no root when the root is too long for a comment, and nothing else is berth\'s', () => {
    const long = storeMark(`/${'x'.repeat(200)}`);
    expect(long).toBe('berth store');
    expect(parseStoreMark(long)).toEqual({ root: undefined });
    for (const other of ['', 'uplink', 'berth storex /a', 'berth store relative', 'berth store /%E0%A4%A']) expect(parseStoreMark(other)).toBeUndefined();
  });

  it('calls a store gone when its database is not there', () => {
    expect(isStoreGone('/nonexistent/berth-store')).toBe(true);
  });
});

describe('leftovers of removed stores', () => {
  const gone = new Set(['/tmp/gone', '/tmp/gone-busy']);
  const isGone = (r: string): boolean => gone.has(r);

  it('are the marked bridges and tables of removed stores, never a live store\'s, the own one\'s or an unmarked one\'s', () => {
    const found = {
      bridges: [
        { name: 'berth1111111111', root: '/tmp/gone', busy: false },
        { name: 'br-0123456789ab', root: '/tmp/gone', busy: false },
        { name: 'berth2222222222', root: '/tmp/live', busy: false },
        { name: 'berth0', root: '/var/lib/berth', busy: false },
        { name: 'berth3333333333', root: undefined, busy: false },
      ],
      tables: [
        { name: 'berth_1111111111', root: '/tmp/gone' },
        { name: 'berth_2222222222', root: '/tmp/live' },
        { name: 'berth', root: '/var/lib/berth' },
      ],
    };
    const own = chooseLeftovers(found, '/var/lib/berth', (r) => r === '/var/lib/berth' || isGone(r));
    expect(own.bridges.map((b) => b.name)).toEqual(['berth1111111111', 'br-0123456789ab']);
    expect(own.tables).toEqual([{ name: 'berth_1111111111', root: '/tmp/gone' }]);
  });

  it('wait while a port is on one of the removed store\'s bridges (a container of it still runs)', () => {
    const found = {
      bridges: [{ name: 'berth4444444444', root: '/tmp/gone-busy', busy: true }, { name: 'br-444444444444', root: '/tmp/gone-busy', busy: false }],
      tables: [{ name: 'berth_4444444444', root: '/tmp/gone-busy' }],
    };
    expect(chooseLeftovers(found, '/tmp/live', isGone)).toEqual({ bridges: [], tables: [] });
  });

  it('are found in nft\'s JSON: berth\'s tables of family ip, and the mark of the guard rule', () => {
    const tables = JSON.stringify({ nftables: [
      { metainfo: { version: '1.0.6' } },
      { table: { family: 'ip', name: 'berth', handle: 1 } },
      { table: { family: 'ip', name: 'berth_0123456789', handle: 2 } },
      { table: { family: 'inet', name: 'berth_aaaaaaaaaa', handle: 3 } },
      { table: { family: 'ip', name: 'nat', handle: 4 } },
      { table: { family: 'ip', name: 'berth_xyz', handle: 5 } },
    ] });
    expect(parseTableNames(tables)).toEqual(['berth', 'berth_0123456789']);
    const chain = JSON.stringify({ nftables: [
      { metainfo: { version: '1.0.6' } },
      { chain: { family: 'ip', table: 'berth_0123456789', name: 'guard' } },
      { rule: { family: 'ip', chain: 'guard', comment: 'berth store /tmp/gone', expr: [] } },
    ] });
    expect(parseTableMark(chain)).toEqual({ root: '/tmp/gone' });
    expect(parseTableMark(JSON.stringify({ nftables: [{ rule: { chain: 'guard', expr: [] } }] }))).toBeUndefined();
  });
});
