import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../common/config.js';

describe('parseConfig', () => {
  it('reads every key', () => {
    const c = parseConfig('{"insecure-registries":["a:5000"],"max-concurrent-downloads":5,"limits":{"maxEntries":10},"cgroup-parent":"/ci"}', 'cfg');
    expect(c).toEqual({ insecureRegistries: ['a:5000'], maxConcurrentDownloads: 5, limits: { maxEntries: 10 }, cgroupParent: '/ci' });
  });

  it('reads the network keys', () => {
    const c = parseConfig('{"bridge":"br9","bip":"10.9.0.1/24","default-address-pools":[{"base":"10.10.0.0/16","size":24}],"dns":["192.0.2.53"],"mtu":9000}', 'cfg');
    expect(c).toMatchObject({ bridge: 'br9', bip: '10.9.0.1/24', defaultAddressPools: [{ base: '10.10.0.0/16', size: 24 }], dns: ['192.0.2.53'], mtu: 9000 });
  });

  it.each([
    ['[]', 'it is not a JSON object'],
    ['{"bridge":"a-name-longer-than-15"}', '"bridge" must be an interface name of at most 15 characters, such as "berth0"'],
    ['{"bip":"10.9.0.1"}', '"bip" must be an address with a prefix length, such as "10.77.0.1/16"'],
    ['{"default-address-pools":[{"base":"10.10.0.0/16","size":31}]}', '"default-address-pools" must be a list of {"base": "10.78.0.0/16", "size": 24}'],
    ['{"dns":["dns.example"]}', '"dns" must be a list of IPv4 addresses'],
    ['{"mtu":100}', '"mtu" must be an integer from 576 to 65535'],
    ['{"insecure":[]}', 'unknown key "insecure"'],
    ['{"limits":{"maxEntrys":1}}', 'unknown limit "limits.maxEntrys"'],
    ['{"limits":{"maxEntries":-1}}', '"limits.maxEntries" must be a positive integer'],
    ['{"max-concurrent-downloads":0}', '"max-concurrent-downloads" must be an integer from 1 to 64'],
    ['nope', 'it is not valid JSON'],
    ['{"cgroup-parent":""}', '"cgroup-parent" must be a cgroup path such as "/berth"'],
    ['{"cgroup-parent":7}', '"cgroup-parent" must be a cgroup path such as "/berth"'],
  ])('refuses %s', (text, why) => {
    expect(() => parseConfig(text, '/x/config.json')).toThrowError(`Invalid configuration in "/x/config.json": ${why}`);
  });
});
