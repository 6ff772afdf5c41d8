/**
 * One rule for -e of run and exec, and one place that decides "No command specified"
 * (issue 11: exec took bare `-e KEY` from berth's own process.env, which behind an API
 * server is the server's environment, not the client's).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerCommand, mergeEnv } from '../../../runtime/spec.js';
import { adjustSpec, withEnv } from '../../../runtime/spec-adjust.js';
import type { RuntimeSpec } from '../../../oci/index.js';

describe('mergeEnv', () => {
  beforeEach(() => {
    process.env['BERTH_TEST_SERVER_SECRET'] = 'of-the-server';
  });
  afterEach(() => {
    delete process.env['BERTH_TEST_SERVER_SECRET'];
  });

  it('takes a bare KEY from the front end\'s environment it is given, never from berth\'s own', () => {
    expect(mergeEnv(['PATH=/bin'], ['BERTH_TEST_SERVER_SECRET'], {})).toEqual(['PATH=/bin']);
    expect(mergeEnv(['PATH=/bin'], ['BERTH_TEST_SERVER_SECRET'], { BERTH_TEST_SERVER_SECRET: 'of-the-client' }))
      .toEqual(['PATH=/bin', 'BERTH_TEST_SERVER_SECRET=of-the-client']);
    expect(mergeEnv(['PATH=/bin'], ['BERTH_TEST_SERVER_SECRET'], undefined)).toEqual(['PATH=/bin']);
  });

  it('replaces by key, keeps the order of the base, and removes a bare KEY the front end does not have', () => {
    expect(mergeEnv(['A=1', 'B=2', 'C=3'], ['B=two', 'D=4', 'C'], {})).toEqual(['A=1', 'B=two', 'D=4']);
  });
});

describe('containerCommand', () => {
  it('a command replaces the image\'s Cmd and keeps its Entrypoint', () => {
    expect(containerCommand({ image: { Entrypoint: ['/init'], Cmd: ['serve'] }, command: ['debug'] }))
      .toEqual({ entrypoint: ['/init'], cmd: ['debug'], args: ['/init', 'debug'] });
  });

  it('--entrypoint replaces the Entrypoint and drops the image\'s Cmd', () => {
    expect(containerCommand({ image: { Entrypoint: ['/init'], Cmd: ['serve'] }, entrypoint: '/bin/sh' }))
      .toEqual({ entrypoint: ['/bin/sh'], cmd: [], args: ['/bin/sh'] });
  });

  it('says which way there is no command, with one hint', () => {
    expect(() => containerCommand({ image: {} })).toThrow('No command specified: the image has no Entrypoint or Cmd');
    expect(() => containerCommand({ image: { Cmd: ['x'] }, entrypoint: '' })).toThrow('No command specified: --entrypoint "" cleared the image\'s Entrypoint and Cmd');
  });
});

describe('spec adjusters', () => {
  it('run in order after buildSpec, each on what the one before gave', () => {
    const spec: RuntimeSpec = { ociVersion: '1.2.0', process: { cwd: '/', args: ['true'], user: { uid: 0, gid: 0 }, env: ['A=1', 'B=2'] } };
    const out = adjustSpec(spec, [withEnv(['B=3']), (s, c) => ({ ...s, hostname: c.id })], { id: 'x', dir: '/d' });
    expect(out.process?.env).toEqual(['A=1', 'B=3']);
    expect(out.hostname).toBe('x');
    expect(spec.process?.env).toEqual(['A=1', 'B=2']);
  });
});
