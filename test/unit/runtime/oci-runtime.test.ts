import { describe, expect, it } from 'vitest';
import type { RuntimeSpec } from '../../../oci/index.js';
import { checkCapabilities, ociCgroupsPath } from '../../../runtime/oci-runtime.js';

describe('ociCgroupsPath', () => {
  it('takes an absolute path as given, a relative one under /berth-oci, none as /berth-oci/<id>', () => {
    expect(ociCgroupsPath('/mine/c1', 'c1')).toBe('/mine/c1');
    expect(ociCgroupsPath('mine/c1', 'c1')).toBe('/berth-oci/mine/c1');
    expect(ociCgroupsPath('c1', 'c1')).toBe('/berth-oci/c1');
    expect(ociCgroupsPath(undefined, 'c1')).toBe('/berth-oci/c1');
  });

  it('refuses a leaf right under the root and empty, "." or ".." components', () => {
    expect(() => ociCgroupsPath('/c1', 'c1')).toThrow('Invalid cgroupsPath "/c1": berth makes no cgroup directly under the root of the hierarchy');
    for (const bad of ['/a//b', '/a/./b', 'a/../../b', '/a/b/']) expect(() => ociCgroupsPath(bad, 'c1')).toThrow(`Invalid cgroupsPath "${bad}"`);
  });
});

describe('checkCapabilities', () => {
  const spec = (caps: NonNullable<NonNullable<RuntimeSpec['process']>['capabilities']>): RuntimeSpec =>
    ({ ociVersion: '1.0.2', process: { cwd: '/', args: ['true'], user: { uid: 0, gid: 0 }, capabilities: caps } }) as RuntimeSpec;

  it('accepts what the host holds, and refuses the first capability it lacks, naming its set', () => {
    expect(() => checkCapabilities(spec({ bounding: ['CAP_CHOWN'], effective: ['CAP_CHOWN'] }), ['CAP_CHOWN', 'CAP_KILL'])).not.toThrow();
    expect(() => checkCapabilities(spec({ bounding: ['CAP_CHOWN'], ambient: ['CAP_SYS_RESOURCE'] }), ['CAP_CHOWN']))
      .toThrow('process.capabilities.ambient has CAP_SYS_RESOURCE, which this host\'s bounding set lacks');
  });
});
