import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../../common/config.js';

describe('parseConfig', () => {
  it('reads every key', () => {
    const c = parseConfig('{"insecure-registries":["a:5000"],"max-concurrent-downloads":5,"limits":{"maxEntries":10},"cgroup-parent":"/ci"}', 'cfg');
    expect(c).toEqual({ insecureRegistries: ['a:5000'], maxConcurrentDownloads: 5, limits: { maxEntries: 10 }, cgroupParent: '/ci' });
  });

  it.each([
    ['[]', 'it is not a JSON object'],
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
