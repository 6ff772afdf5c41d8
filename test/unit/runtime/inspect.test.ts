import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../common/errors.js';
import { containerLowerDirs, inspectContainer } from '../../../runtime/index.js';
import { recordEngine, type RecordEngine } from '../../helpers/engine.js';

let t: RecordEngine;
beforeEach(() => {
  t = recordEngine();
});
afterEach(() => t.cleanup());

describe('the container inspect document', () => {
  it('has docker\'s state, host config and mounts for an exited container', () => {
    const r = t.add('web', {
      exitCode: 2, finishedAt: '2024-01-01T00:00:09Z',
      config: {
        mounts: [
          { type: 'bind', source: '/srv', destination: '/data', readOnly: true },
          { type: 'volume', name: 'v1', destination: '/v', readOnly: false },
          { type: 'tmpfs', destination: '/tmp', options: ['size=1m', 'mode=1777'] },
        ],
        ulimits: [{ name: 'nofile', soft: 1024, hard: 2048 }],
      },
    });
    const doc = inspectContainer(t.engine, t.engine.find('web'), ['/l2', '/l1']);
    expect(doc).toMatchObject({
      Id: r.id, Name: '/web', Path: 'sh', Args: ['-c', 'echo hi'], Image: r.imageId,
      State: { Status: 'exited', Running: false, Pid: 0, ExitCode: 2, StartedAt: '0001-01-01T00:00:00Z', FinishedAt: '2024-01-01T00:00:09Z' },
      HostConfig: {
        Binds: ['/srv:/data:ro'], Tmpfs: { '/tmp': 'size=1m,mode=1777' }, Ulimits: [{ Name: 'nofile', Soft: 1024, Hard: 2048 }],
        NetworkMode: 'none', PidsLimit: null, DeviceCgroupRules: null, LogConfig: { Type: 'json-file', Config: { 'max-size': '10485760', 'max-file': '3' } },
      },
      Mounts: [
        { Type: 'bind', Source: '/srv', Destination: '/data', Mode: 'ro', RW: false, Propagation: 'rprivate' },
        { Type: 'volume', Name: 'v1', Destination: '/v', RW: true },
      ],
      GraphDriver: { Name: 'overlay2', Data: { LowerDir: '/l2:/l1' } },
      NetworkSettings: { SandboxKey: '', IPAddress: '', Networks: {} },
    });
    expect(doc['LogPath']).toBe(t.engine.logPath(r.id));
  });

  it('has no lower directories when the image is gone', () => {
    t.add('web');
    const gone = { find: (ref: string): never => { throw new NotFoundError(`No such image: ${ref}`); } };
    expect(containerLowerDirs(gone, t.layout, t.engine.find('web'))).toEqual([]);
  });
});
