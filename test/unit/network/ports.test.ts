import { describe, expect, it } from 'vitest';
import { checkConflicts, formatPortLines, formatPortsColumn, parseExpose, parsePublish, portMap, publishAll } from '../../../network/ports.js';

// The messages are the docker 28 CLI's (checked with `docker create -p SPEC busybox`, which
// parses the flag before it looks for a daemon); docker accepts container port 0 and leaves
// it to the daemon to refuse, berth refuses it at once.
describe('-p', () => {
  it.each([
    ['80', [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }]],
    ['8080:80', [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]],
    ['127.0.0.1:5353:53/udp', [{ hostIp: '127.0.0.1', hostPort: 5353, containerPort: 53, protocol: 'udp' }]],
    ['127.0.0.1::80', [{ hostIp: '127.0.0.1', hostPort: 0, containerPort: 80, protocol: 'tcp' }]],
    ['0.0.0.0:8080:80/TCP', [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]],
    ['[::]:8080:80', [{ hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' }]],
    ['9000-9001:90-91/udp', [{ hostIp: '', hostPort: 9000, containerPort: 90, protocol: 'udp' }, { hostIp: '', hostPort: 9001, containerPort: 91, protocol: 'udp' }]],
    ['8000-8010:80', [{ hostIp: '', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'tcp' }]],
    ['7000-7001', [{ hostIp: '', hostPort: 0, containerPort: 7000, protocol: 'tcp' }, { hostIp: '', hostPort: 0, containerPort: 7001, protocol: 'tcp' }]],
    ['published=8080,target=80,protocol=udp,host_ip=127.0.0.1,mode=host', [{ hostIp: '127.0.0.1', hostPort: 8080, containerPort: 80, protocol: 'udp' }]],
    ['target=80', [{ hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }]],
  ])('parses %s', (spec, expected) => {
    expect(parsePublish(spec)).toEqual(expected);
  });

  it.each([
    ['abc', /invalid containerPort: abc/],
    ['80/xyz', /invalid proto: xyz/],
    ['70000:80', /invalid hostPort: 70000/],
    ['8080:0', /invalid containerPort: 0/],
    ['1.2.3:80:80', /invalid IP address: 1.2.3/],
    ['[::1]:80:80', /IPv6 host addresses are not supported yet/],
    ['9000-9002:90-91', /invalid ranges specified for container and host Ports: 90-91 and 9000-9002/],
    ['91-90', /invalid containerPort: 91-90/],
    ['1:2:3:4', /invalid IP address: 1:2/],
    ['8080:', /no port specified/],
    ['published=80', /missing mandatory field "target"/],
    ['target=80,mode=swarm', /invalid publish mode value/],
  ])('refuses %s', (spec, message) => {
    expect(() => parsePublish(spec)).toThrow(message);
  });

  it('refuses the same host port twice, also across addresses', () => {
    expect(() => checkConflicts([...parsePublish('8080:80'), ...parsePublish('127.0.0.1:8080:81')])).toThrow(/Bind for 127.0.0.1:8080 failed: port is already allocated/);
    expect(() => checkConflicts([...parsePublish('8080:80'), ...parsePublish('8080:80/udp'), ...parsePublish('80'), ...parsePublish('80')])).not.toThrow();
    expect(() => checkConflicts([...parsePublish('127.0.0.1:8080:80'), ...parsePublish('127.0.0.2:8080:80')])).not.toThrow();
  });
});

describe('--expose and -P', () => {
  it('expands ranges and defaults to tcp', () => {
    expect(parseExpose('80')).toEqual(['80/tcp']);
    expect(parseExpose('53/udp')).toEqual(['53/udp']);
    expect(parseExpose('8000-8002/tcp')).toEqual(['8000/tcp', '8001/tcp', '8002/tcp']);
    expect(() => parseExpose('x')).toThrow(/invalid port: x/);
  });

  it('publishes each exposed port on a free host port', () => {
    expect(publishAll(['80/tcp', '53/udp'])).toEqual([
      { hostIp: '', hostPort: 0, containerPort: 80, protocol: 'tcp' }, { hostIp: '', hostPort: 0, containerPort: 53, protocol: 'udp' },
    ]);
  });
});

describe('showing ports', () => {
  const bindings = [
    { hostIp: '', hostPort: 8080, containerPort: 80, protocol: 'tcp' as const },
    { hostIp: '127.0.0.1', hostPort: 9000, containerPort: 9000, protocol: 'udp' as const },
    { hostIp: '127.0.0.1', hostPort: 9001, containerPort: 9001, protocol: 'udp' as const },
  ];

  it('makes docker ps\'s PORTS column, with ranges and exposed-only ports', () => {
    expect(formatPortsColumn(bindings, ['80/tcp', '443/tcp'])).toBe('443/tcp, 0.0.0.0:8080->80/tcp, 127.0.0.1:9000-9001->9000-9001/udp');
    expect(formatPortsColumn([], [])).toBe('');
  });

  it('makes docker port\'s lines, with and without a filter', () => {
    expect(formatPortLines(bindings)).toEqual(['80/tcp -> 0.0.0.0:8080', '9000/udp -> 127.0.0.1:9000', '9001/udp -> 127.0.0.1:9001']);
    expect(formatPortLines(bindings, '80')).toEqual(['0.0.0.0:8080']);
    expect(formatPortLines(bindings, '9000/udp')).toEqual(['127.0.0.1:9000']);
    expect(formatPortLines(bindings, '9000')).toEqual([]);
  });

  it('makes inspect\'s port maps', () => {
    expect(portMap(bindings.slice(0, 1), ['80/tcp', '443/tcp'], true)).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }], '443/tcp': null });
    expect(portMap(parsePublish('80'), [], false)).toEqual({ '80/tcp': [{ HostIp: '', HostPort: '' }] });
  });
});
