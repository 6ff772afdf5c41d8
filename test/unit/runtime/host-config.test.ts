import { describe, expect, it } from 'vitest';
import { parseLogOpts, parseMount, parseTmpfs, parseUlimit, parseVolume } from '../../../runtime/index.js';

describe('-v and HostConfig.Binds', () => {
  it('makes a bind mount of an absolute host path and a named volume of a bare name', () => {
    expect(parseVolume('/srv/data:/data:ro')).toEqual({ type: 'bind', source: '/srv/data', destination: '/data', readOnly: true });
    expect(parseVolume('/srv//x/:/x')).toEqual({ type: 'bind', source: '/srv/x', destination: '/x', readOnly: false });
    expect(parseVolume('cache:/var/cache:rw,z')).toEqual({ type: 'volume', name: 'cache', destination: '/var/cache', readOnly: false });
  });

  it('refuses a bad spec, an unknown option, a relative host path and a relative container path', () => {
    expect(() => parseVolume('/srv')).toThrow('Invalid volume specification "/srv"');
    expect(() => parseVolume('/a:/b:c:d')).toThrow('Invalid volume specification "/a:/b:c:d"');
    expect(() => parseVolume('/a:/b:rx')).toThrow('Invalid volume option "rx" in "/a:/b:rx"');
    expect(() => parseVolume('./a:/b')).toThrow('Invalid volume "./a:/b": the host path must be absolute');
    expect(() => parseVolume('/a:b')).toThrow('Invalid volume "/a:b": the container path "b" is not absolute');
  });
});

describe('--mount', () => {
  it('takes bind, volume (the default) and tmpfs mounts with docker\'s field names', () => {
    expect(parseMount('type=bind,src=/srv,dst=/d,readonly,bind-propagation=rslave')).toEqual({
      type: 'bind', source: '/srv', destination: '/d', readOnly: true, propagation: 'rslave',
    });
    expect(parseMount('source=v,target=/v,ro=1')).toEqual({ type: 'volume', name: 'v', destination: '/v', readOnly: true });
    expect(parseMount('type=tmpfs,destination=/t,tmpfs-size=1m,tmpfs-mode=1777')).toEqual({ type: 'tmpfs', destination: '/t', options: ['size=1m', 'mode=1777'] });
  });

  it('refuses a mount without a target, a bind without an absolute source and an unknown type', () => {
    expect(() => parseMount('type=bind,src=/srv')).toThrow('Invalid --mount "type=bind,src=/srv": target is required');
    expect(() => parseMount('type=bind,src=srv,dst=/d')).toThrow('a bind mount needs an absolute source');
    expect(() => parseMount('type=npipe,dst=/d')).toThrow('unknown type "npipe"');
  });
});

describe('--tmpfs, --ulimit and --log-opt', () => {
  it('parses a tmpfs destination and its options', () => {
    expect(parseTmpfs('/run:rw,size=64k')).toEqual({ type: 'tmpfs', destination: '/run', options: ['rw', 'size=64k'] });
    expect(parseTmpfs('/run')).toEqual({ type: 'tmpfs', destination: '/run', options: [] });
    expect(() => parseTmpfs('run')).toThrow('Invalid --tmpfs "run": the container path "run" is not absolute');
  });

  it('parses NAME=SOFT[:HARD], the hard limit defaulting to the soft one', () => {
    expect(parseUlimit('nofile=1024:2048')).toEqual({ name: 'nofile', soft: 1024, hard: 2048 });
    expect(parseUlimit('core=-1')).toEqual({ name: 'core', soft: -1, hard: -1 });
    expect(() => parseUlimit('nofile')).toThrow('Invalid --ulimit "nofile"');
    expect(() => parseUlimit('nofile=10:5')).toThrow('the soft limit 10 is above the hard limit 5');
  });

  it('parses json-file\'s max-size and max-file', () => {
    expect(parseLogOpts(['max-size=1.5k', 'max-file=2'])).toEqual({ maxSize: 1536, maxFiles: 2 });
    expect(parseLogOpts(['max-size=10m'])).toEqual({ maxSize: 10 * 1024 * 1024 });
    expect(() => parseLogOpts(['max-size=big'])).toThrow('Invalid --log-opt max-size "big"');
    expect(() => parseLogOpts(['max-file=0'])).toThrow('Invalid --log-opt max-file "0"');
    expect(() => parseLogOpts(['compress=true'])).toThrow('Unknown --log-opt "compress"');
  });
});
