import { describe, expect, it } from 'vitest';
import { rulesetScript, tableName } from '../../../network/nft.js';

describe('berth\'s nftables table', () => {
  it('is named berth for the default store and per root otherwise', () => {
    expect(tableName('/var/lib/berth', '/var/lib/berth', () => 'x')).toBe('berth');
    expect(tableName('/tmp/s', '/var/lib/berth', () => '0123456789abcdef')).toBe('berth_0123456789');
  });

  it('with no networks only removes the table', () => {
    expect(rulesetScript('berth', { networks: [], ports: [] })).toBe('table ip berth {}\ndelete table ip berth\n');
  });

  it('masquerades outbound traffic of non-internal networks and isolates bridges', () => {
    const s = rulesetScript('berth', { networks: [{ bridge: 'berth0', subnet: '10.77.0.0/16', internal: false }, { bridge: 'br-1', subnet: '10.78.0.0/24', internal: true }], ports: [] });
    expect(s.startsWith('table ip berth {}\ndelete table ip berth\ntable ip berth {\n')).toBe(true);
    expect(s).toContain('ip saddr 10.77.0.0/16 oifname != "berth0" masquerade');
    expect(s).not.toContain('ip saddr 10.78.0.0/24 oifname != "br-1" masquerade');
    expect(s).toContain('iifname "br-1" drop');
    expect(s).toContain('oifname "br-1" drop');
    expect(s).toContain('iifname { "berth0", "br-1" } oifname { "berth0", "br-1" } drop');
    expect(s).toContain('iifname { "berth0", "br-1" } ip daddr 127.0.0.0/8 drop');
    // Same-bridge traffic is accepted before the isolation rule, and internal drops come before published-port accepts.
    expect(s.indexOf('iifname "berth0" oifname "berth0" accept')).toBeLessThan(s.indexOf('ct status dnat accept'));
    expect(s.indexOf('iifname "br-1" drop')).toBeLessThan(s.indexOf('ct status dnat accept'));
  });

  it('DNATs published ports on every local address or one', () => {
    const s = rulesetScript('t', {
      networks: [{ bridge: 'berth0', subnet: '10.77.0.0/16', internal: false }],
      ports: [
        { protocol: 'tcp', hostIp: '', hostPort: 8080, containerIp: '10.77.0.2', containerPort: 80 },
        { protocol: 'udp', hostIp: '127.0.0.1', hostPort: 5353, containerIp: '10.77.0.3', containerPort: 53 },
      ],
    });
    expect(s).toContain('    tcp dport 8080 dnat to 10.77.0.2:80\n');
    expect(s).toContain('    ip daddr 127.0.0.1 udp dport 5353 dnat to 10.77.0.3:53\n');
    expect(s).toContain('oifname "berth0" ct status dnat ip saddr { 127.0.0.0/8, 10.77.0.0/16 } masquerade');
  });

  it('refuses a bridge name that could inject rules', () => {
    expect(() => rulesetScript('t', { networks: [{ bridge: 'x" accept', subnet: '10.0.0.0/8', internal: false }], ports: [] })).toThrow(/Not an interface name/);
  });

  it('carries the store\'s mark as the comment of its guard rule, and refuses a mark that could inject rules', () => {
    const networks = [{ bridge: 'berth0', subnet: '10.77.0.0/16', internal: false }];
    const s = rulesetScript('berth', { networks, ports: [], mark: 'berth store /var/lib/berth' });
    expect(s).toContain('iifname { "berth0" } ip daddr 127.0.0.0/8 drop comment "berth store /var/lib/berth"\n');
    expect(rulesetScript('berth', { networks, ports: [] })).toContain('ip daddr 127.0.0.0/8 drop\n');
    expect(() => rulesetScript('t', { networks, ports: [], mark: 'x" accept' })).toThrow(/Not an nft comment/);
    expect(() => rulesetScript('t', { networks, ports: [], mark: 'x'.repeat(129) })).toThrow(/Not an nft comment/);
  });
});
