import { describe, expect, it } from 'vitest';
import { runtimeSpecVersion, SchemaValidator, type RuntimeSpec, type RuntimeState } from '../../../oci/index.js';

const validator = await SchemaValidator.load();

describe('runtime-spec types', () => {
  it('name a SemVer spec version', () => {
    expect(runtimeSpecVersion).toMatch(/^1\.\d+\.\d+$/);
  });

  it('describe a state document the state schema accepts', () => {
    const state: RuntimeState = { ociVersion: runtimeSpecVersion, id: 'c1', status: 'running', pid: 4422, bundle: '/run/berth/c1', annotations: { a: 'b' } };
    expect(validator.validate('runtime-state', state)).toBeUndefined();
    expect(validator.validate('runtime-state', { ...state, status: 'paused' })).toBeDefined();
  });

  it('describe a config the config schema accepts', () => {
    const config: RuntimeSpec = {
      ociVersion: runtimeSpecVersion,
      process: { user: { uid: 0, gid: 0 }, args: ['sh'], cwd: '/', rlimits: [{ type: 'RLIMIT_NOFILE', soft: 1024, hard: 1024 }] },
      root: { path: 'rootfs', readonly: true },
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
      hooks: { createRuntime: [{ path: '/usr/bin/hook', args: ['hook'], timeout: 5 }] },
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'network', path: '/proc/1/ns/net' }],
        devices: [{ path: '/dev/fuse', type: 'c', major: 10, minor: 229, fileMode: 0o666 }],
        resources: { memory: { limit: -1 }, cpu: { quota: 50_000, period: 100_000 }, blockIO: { weight: 500 }, pids: { limit: -1 } },
        rootfsPropagation: 'private',
      },
    };
    expect(validator.validate('runtime-config', config)).toBeUndefined();
  });
});
