import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../common/errors.js';
import { formatPortLines, formatPortsColumn, portMap } from '../../../network/port-format.js';
import { checkConflicts, parseExpose, parsePublish, publishAll, type PortBinding, type Protocol } from '../../../network/ports.js';

/** The InvalidArgumentError `fn` throws. */
function refusal(fn: () => unknown): InvalidArgumentError {
  try {
    fn();
  } catch (err) {
    if (err instanceof InvalidArgumentError) return err;
    throw err;
  }
  throw new Error('it did not throw');
}

function bind(hostIp: string, hostPort: number, containerPort: number, protocol: Protocol = 'tcp'): PortBinding {
  return { hostIp, hostPort, containerPort, protocol };
}

describe('parsePublish', () => {
  // Accepted by the docker 28.2.2 CLI too (`docker create -p SPEC busybox` got as far as
  // looking for the daemon), except where a comment says otherwise.
  it.each<[string, PortBinding[]]>([
    ['80', [bind('', 0, 80)]],
    ['8080:80', [bind('', 8080, 80)]],
    [':80', [bind('', 0, 80)]],
    ['0:80', [bind('', 0, 80)]],
    ['080', [bind('', 0, 80)]],
    ['80/sctp', [bind('', 0, 80, 'sctp')]],
    ['127.0.0.1:5353:53/udp', [bind('127.0.0.1', 5353, 53, 'udp')]],
    ['127.0.0.1::80', [bind('127.0.0.1', 0, 80)]],
    ['0.0.0.0:8080:80/TCP', [bind('', 8080, 80)]],
    ['[1.2.3.4]:80:80', [bind('1.2.3.4', 80, 80)]],
    ['[]:80:80', [bind('', 80, 80)]],
    // "::" is every address for berth (docker 28 binds IPv6 only there).
    ['[::]:8080:80', [bind('', 8080, 80)]],
    [':::8080:80', [bind('', 8080, 80)]],
    // An IPv4-mapped IPv6 address is its IPv4 address, as docker binds it.
    ['::ffff:1.2.3.4:80:80', [bind('1.2.3.4', 80, 80)]],
    ['9000-9001:90-91/udp', [bind('', 9000, 90, 'udp'), bind('', 9001, 91, 'udp')]],
    ['0-1:80-81', [bind('', 0, 80), bind('', 1, 81)]],
    ['8000-8010:80', [{ hostIp: '', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'tcp' }]],
    ['127.0.0.1:8000-8010:80/udp', [{ hostIp: '127.0.0.1', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'udp' }]],
    ['8000-8000:80', [bind('', 8000, 80)]],
    ['7000-7001', [bind('', 0, 7000), bind('', 0, 7001)]],
    ['80-80', [bind('', 0, 80)]],
    // go-connections ignores a third part of a range or of "port/proto".
    ['80-81-100', [bind('', 0, 80), bind('', 0, 81)]],
    ['80/udp/x', [bind('', 0, 80, 'udp')]],
    ['80//udp', [bind('', 0, 80)]],
  ])('parses %j', (spec, expected) => {
    expect(parsePublish(spec)).toEqual(expected);
  });

  // The long syntax is the CLI's convertToStandardNotation: "published:target/protocol".
  it.each<[string, PortBinding[]]>([
    // docker run ignores host_ip; berth publishes on it.
    ['published=8080,target=80,protocol=udp,host_ip=127.0.0.1,mode=host', [bind('127.0.0.1', 8080, 80, 'udp')]],
    ['target=80', [bind('', 0, 80)]],
    ['target=80,mode=swarm,foo=bar', [bind('', 0, 80)]],
    ['target=53,protocol=UDP', [bind('', 0, 53, 'udp')]],
    ['target=80/udp', [bind('', 0, 80, 'udp')]],
    ['published=8000-8010,target=80', [{ hostIp: '', hostPort: 8000, hostPortEnd: 8010, containerPort: 80, protocol: 'tcp' }]],
    ['published=9000-9001,target=90-91', [bind('', 9000, 90), bind('', 9001, 91)]],
    ['host_ip=0.0.0.0,target=80', [bind('', 0, 80)]],
  ])('parses the long syntax %j', (spec, expected) => {
    expect(parsePublish(spec)).toEqual(expected);
  });

  // Each message is the docker 28.2.2 CLI's, compared with `docker create -p SPEC busybox`.
  it.each([
    ['abc', 'invalid containerPort: abc'],
    ['abc/xyz', 'invalid containerPort: abc'],
    ['70000', 'invalid containerPort: 70000'],
    ['65536', 'invalid containerPort: 65536'],
    ['80-70000', 'invalid containerPort: 80-70000'],
    ['91-90', 'invalid containerPort: 91-90'],
    ['-80', 'invalid containerPort: -80'],
    ['+80', 'invalid containerPort: +80'],
    ['80-', 'invalid containerPort: 80-'],
    ['0x50', 'invalid containerPort: 0x50'],
    ['[1.2.3.4', 'invalid containerPort: [1.2.3.4'],
    ['80/xyz', 'invalid proto: xyz'],
    ['80/XYZ', 'invalid proto: XYZ'],
    ['8080:80/xyz', 'invalid proto: xyz'],
    ['[]:80:80/xyz', 'invalid proto: xyz'],
    ['70000:80', 'invalid hostPort: 70000'],
    ['abc:80', 'invalid hostPort: abc'],
    ['1.2.3.4:abc:80', 'invalid hostPort: abc'],
    ['8000-7999:80', 'invalid hostPort: 8000-7999'],
    ['1.2.3:80:80', 'invalid IP address: 1.2.3'],
    ['01.2.3.4:80:80', 'invalid IP address: 01.2.3.4'],
    ['localhost:80:80', 'invalid IP address: localhost'],
    ['1:2:3:4', 'invalid IP address: 1:2'],
    ['::80:80', 'invalid IP address: :'],
    ['1.2.3.4:80:80:', 'invalid IP address: 1.2.3.4:80'],
    ['fe80::1%eth0:80:80', 'invalid IP address: fe80::1%eth0'],
    ['[fe80::1%eth0]:80:80', 'invalid IP address: fe80::1%eth0'],
    ['[::1:80:80', "invalid IP address [::1: address [::1:: missing ']' in address"],
    ['[::1]:5:80:80', 'invalid IP address [::1]:5: address [::1]:5:: too many colons in address'],
    ['[::1]x:80:80', 'invalid IP address [::1]x: address [::1]x:: missing port in address'],
    ['[::1]]:80:80', 'invalid IP address [::1]]: address [::1]]:: missing port in address'],
    ['[a[b]:80:80', "invalid IP address [a[b]: address [a[b]:: unexpected '[' in address"],
    ['[[::1]:80:80', "invalid IP address [[::1]: address [[::1]:: unexpected '[' in address"],
    ['9000-9002:90-91', 'invalid ranges specified for container and host Ports: 90-91 and 9000-9002'],
    ['80:90-91', 'invalid ranges specified for container and host Ports: 90-91 and 80'],
    ['8080:', 'no port specified: 8080:<empty>'],
    ['', 'no port specified: <empty>'],
    ['/udp', 'no port specified: /udp<empty>'],
    ['1.2.3.4:', 'no port specified: 1.2.3.4:<empty>'],
    ['::', 'no port specified: ::<empty>'],
    // The long syntax: ParsePortSpec's messages quote the converted text.
    ['published=80', 'no port specified: 80:/tcp<empty>'],
    ['target=,published=5', 'no port specified: 5:/tcp<empty>'],
    ['a=', 'no port specified: :/tcp<empty>'],
    ['TARGET=80', 'no port specified: :/tcp<empty>'],
    ['target=abc', 'invalid containerPort: abc'],
    ['target=80=90', 'invalid containerPort: 80=90'],
    ['protocol=xyz,target=80', 'invalid proto: xyz'],
    ['=b', "invalid publish opts format (should be name=value but got '=b')"],
    ['target=80,,', "invalid publish opts format (should be name=value but got '')"],
  ])('refuses %j as docker does', (spec, message) => {
    const err = refusal(() => parsePublish(spec));
    expect(err.message).toBe(message);
    expect(err.hint).toMatch(/\S/);
  });

  // Where berth refuses what the docker CLI lets through.
  it.each([
    // docker leaves container port 0 to fail at start.
    ['8080:0', 'invalid containerPort: 0'],
    ['0-2', 'invalid containerPort: 0-2'],
    // The daemon's port allocator refuses this at start with these words.
    ['0-10:80', 'invalid port range: 0-10'],
    // berth is IPv4-only.
    ['[::1]:80:80', 'IPv6 host addresses are not supported yet'],
    ['::1:80:80', 'IPv6 host addresses are not supported yet'],
    ['[2001:db8::1]::80/udp', 'IPv6 host addresses are not supported yet'],
    ['published=8080,target=80,host_ip=::1', 'IPv6 host addresses are not supported yet'],
    // docker run ignores host_ip; berth checks it as the short syntax's address.
    ['published=8080,target=80,host_ip=1.2.3', 'invalid IP address: 1.2.3'],
  ])('refuses %j where docker would fail later or ignore it', (spec, message) => {
    const err = refusal(() => parsePublish(spec));
    expect(err.message).toBe(message);
    expect(err.hint).toMatch(/\S/);
  });

  it('names the IPv6 address in the hint', () => {
    expect(refusal(() => parsePublish('[::1]:80:80')).hint).toContain('"::1"');
  });
});

describe('checkConflicts', () => {
  it.each<[string, string[], string | undefined]>([
    ['the same port twice', ['8080:80', '8080:81'], 'Bind for 0.0.0.0:8080 failed: port is already allocated'],
    ['the same binding twice', ['127.0.0.1:8080:80', '127.0.0.1:8080:80'], 'Bind for 127.0.0.1:8080 failed: port is already allocated'],
    ['one address and every address', ['8080:80', '127.0.0.1:8080:81'], 'Bind for 127.0.0.1:8080 failed: port is already allocated'],
    ['every address after one address', ['127.0.0.1:8080:80', '8080:81'], 'Bind for 0.0.0.0:8080 failed: port is already allocated'],
    ['a host range against a fixed port of it', ['9000-9001:90-91', '9001:92'], 'Bind for 0.0.0.0:9001 failed: port is already allocated'],
    ['tcp and udp', ['8080:80', '8080:80/udp'], undefined],
    ['two addresses', ['127.0.0.1:8080:80', '127.0.0.2:8080:80'], undefined],
    ['any port twice', ['80', '80'], undefined],
    ['a range to pick from and a port of it', ['8000-8010:80', '8005:81'], undefined],
    ['two ranges to pick from', ['8000-8010:80', '8000-8010:81'], undefined],
  ])('%s', (_name, specs, message) => {
    const bindings = specs.flatMap(parsePublish);
    if (message === undefined) {
      expect(() => checkConflicts(bindings)).not.toThrow();
    } else {
      const err = refusal(() => checkConflicts(bindings));
      expect(err.message).toBe(message);
      expect(err.hint).toMatch(/\S/);
    }
  });
});

describe('parseExpose and publishAll', () => {
  it.each<[string, string[]]>([
    ['80', ['80/tcp']],
    ['080', ['80/tcp']],
    ['53/udp', ['53/udp']],
    ['80/', ['80/tcp']],
    ['8000-8002/tcp', ['8000/tcp', '8001/tcp', '8002/tcp']],
    ['80-81-x', ['80/tcp', '81/tcp']],
    // docker keeps "80/UDP" as it is; berth has one spelling.
    ['80/UDP', ['80/udp']],
    ['132/sctp', ['132/sctp']],
  ])('expands %j', (spec, expected) => {
    expect(parseExpose(spec)).toEqual(expected);
  });

  // The first seven are the docker 28.2.2 CLI's messages (`docker create --expose SPEC busybox`);
  // docker passes the last two through.
  it.each([
    ['abc', 'invalid range format for --expose: abc, error: strconv.ParseUint: parsing "abc": invalid syntax'],
    ['80:80', 'invalid port format for --expose: 80:80'],
    ['', 'invalid range format for --expose: , error: empty string specified for ports'],
    ['/udp', 'invalid range format for --expose: /udp, error: empty string specified for ports'],
    ['90-80', 'invalid range format for --expose: 90-80, error: invalid range specified for port: 90-80'],
    ['70000', 'invalid range format for --expose: 70000, error: strconv.ParseUint: parsing "70000": value out of range'],
    ['80-', 'invalid range format for --expose: 80-, error: strconv.ParseUint: parsing "": invalid syntax'],
    ['80/xyz', 'invalid proto: xyz'],
    ['0', 'invalid range format for --expose: 0, error: port 0 cannot be exposed'],
  ])('refuses %j', (spec, message) => {
    const err = refusal(() => parseExpose(spec));
    expect(err.message).toBe(message);
    expect(err.hint).toMatch(/\S/);
  });

  it('publishes each exposed port on a free host port of every address', () => {
    expect(publishAll(new Set(['80/tcp', '53/udp', '9000-9001/udp']))).toEqual([
      bind('', 0, 80), bind('', 0, 53, 'udp'), bind('', 0, 9000, 'udp'), bind('', 0, 9001, 'udp'),
    ]);
    expect(publishAll([])).toEqual([]);
    expect(refusal(() => publishAll(['80/xyz'])).message).toBe('invalid proto: xyz');
  });
});

describe('formatPortsColumn', () => {
  // The first ten are docker/cli v28.2.2's TestDisplayablePorts (cli/command/formatter/
  // container_test.go), as bindings and exposed ports.
  it.each<[string, PortBinding[], string[], string]>([
    ['an exposed port', [], ['9988/tcp'], '9988/tcp'],
    ['an exposed udp port', [], ['9988/udp'], '9988/udp'],
    ['a published port', [bind('4.3.2.1', 8899, 9988)], [], '4.3.2.1:8899->9988/tcp'],
    ['an IPv6 address in brackets', [bind('::1', 8899, 9988)], [], '[::1]:8899->9988/tcp'],
    ['the same host and container port', [bind('4.3.2.1', 9988, 9988)], [], '4.3.2.1:9988->9988/tcp'],
    ['a range of the same ports', [bind('1.2.3.4', 9998, 9998, 'udp'), bind('1.2.3.4', 9999, 9999, 'udp')], [], '1.2.3.4:9998-9999->9998-9999/udp'],
    ['other ports one by one', [bind('1.2.3.4', 8887, 9998, 'udp'), bind('1.2.3.4', 8888, 9999, 'udp')], [], '1.2.3.4:8887->9998/udp, 1.2.3.4:8888->9999/udp'],
    ['a range of exposed ports', [], ['9998/udp', '9999/udp'], '9998-9999/udp'],
    ['exposed before published', [bind('1.2.3.4', 7766, 6677)], ['9988/udp'], '9988/udp, 1.2.3.4:7766->6677/tcp'],
    ['published in port, address, protocol order',
      [bind('1.2.3.4', 8899, 9988, 'udp'), bind('1.2.3.4', 8899, 9988), bind('4.3.2.1', 3322, 2233), bind('::1', 3322, 2233)], [],
      '4.3.2.1:3322->2233/tcp, [::1]:3322->2233/tcp, 1.2.3.4:8899->9988/tcp, 1.2.3.4:8899->9988/udp'],
    ['every address as 0.0.0.0, published ports not shown as exposed', [bind('', 8080, 80)], ['80/tcp'], '0.0.0.0:8080->80/tcp'],
    ['a range on every address', [bind('', 8080, 8080), bind('', 8081, 8081)], [], '0.0.0.0:8080-8081->8080-8081/tcp'],
    ['groups first, then other published ports',
      [bind('', 8080, 80), bind('127.0.0.1', 9000, 9000, 'udp'), bind('127.0.0.1', 9001, 9001, 'udp')], ['80/tcp', '443/tcp'],
      '443/tcp, 127.0.0.1:9000-9001->9000-9001/udp, 0.0.0.0:8080->80/tcp'],
    // DisplayablePorts emits a group cut short at once, ahead of the groups still open.
    ['a broken group first', [], ['80/tcp', '82/tcp', '81/udp'], '80/tcp, 82/tcp, 81/udp'],
    ['two groups of one key', [], ['84/tcp', '80/tcp', '81/tcp', '83/tcp'], '80-81/tcp, 83-84/tcp'],
    ['an exposed port once', [], ['80/tcp', '80/tcp'], '80/tcp'],
    ['nothing', [], [], ''],
  ])('%s', (_name, bindings, exposed, expected) => {
    expect(formatPortsColumn(bindings, exposed)).toBe(expected);
  });
});

describe('formatPortLines', () => {
  // As docker/cli v28.2.2's TestNewPortCommandOutput golden files (IPv4 lines).
  const bindings = [bind('', 5678, 443, 'udp'), bind('', 4567, 443), bind('', 3456, 80)];

  it.each<[string | undefined, PortBinding[], string[]]>([
    [undefined, bindings, ['80/tcp -> 0.0.0.0:3456', '443/tcp -> 0.0.0.0:4567', '443/udp -> 0.0.0.0:5678']],
    ['', bindings, ['80/tcp -> 0.0.0.0:3456', '443/tcp -> 0.0.0.0:4567', '443/udp -> 0.0.0.0:5678']],
    ['80', bindings, ['0.0.0.0:3456']],
    ['80/', bindings, ['0.0.0.0:3456']],
    ['443/udp', bindings, ['0.0.0.0:5678']],
    // docker looks the filter up as text.
    ['080', bindings, []],
    ['80/TCP', bindings, []],
    ['9000', bindings, []],
    // Natural order: 9.0.0.1 before 10.0.0.1.
    ['80', [bind('10.0.0.1', 8080, 80), bind('9.0.0.1', 8080, 80)], ['9.0.0.1:8080', '10.0.0.1:8080']],
    [undefined, [bind('10.0.0.1', 10, 9), bind('9.0.0.1', 9, 9)], ['9/tcp -> 9.0.0.1:9', '9/tcp -> 10.0.0.1:10']],
    [undefined, [bind('::1', 8080, 80)], ['80/tcp -> [::1]:8080']],
    [undefined, [], []],
  ])('with filter %j', (filter, list, expected) => {
    expect(formatPortLines(list, filter)).toEqual(expected);
  });

  // runPort's words (cli/command/container/port.go); berth's CLI prefixes "Error: " as docker's does.
  it.each([
    ['abc', 'invalid port (abc): strconv.ParseUint: parsing "abc": invalid syntax'],
    ['70000/udp', 'invalid port (70000): strconv.ParseUint: parsing "70000": value out of range'],
    ['/udp', 'invalid port (): strconv.ParseUint: parsing "": invalid syntax'],
  ])('refuses the filter %j', (filter, message) => {
    const err = refusal(() => formatPortLines(bindings, filter));
    expect(err.message).toBe(message);
    expect(err.hint).toMatch(/\S/);
  });
});

describe('portMap', () => {
  it('makes NetworkSettings.Ports: every address as 0.0.0.0, exposed-only ports as null, keys sorted as Go marshals them', () => {
    const map = portMap([bind('', 8080, 80), bind('127.0.0.1', 8081, 80)], ['80/tcp', '443/tcp'], true);
    expect(map).toEqual({ '80/tcp': [{ HostIp: '0.0.0.0', HostPort: '8080' }, { HostIp: '127.0.0.1', HostPort: '8081' }], '443/tcp': null });
    expect(Object.keys(map)).toEqual(['443/tcp', '80/tcp']);
  });

  it('makes HostConfig.PortBindings: the requested address, "" for any port, the range to pick from', () => {
    expect(portMap(['80', '127.0.0.1:8080:81', '8000-8010:82/udp'].flatMap(parsePublish), [], false)).toEqual({
      '80/tcp': [{ HostIp: '', HostPort: '' }],
      '81/tcp': [{ HostIp: '127.0.0.1', HostPort: '8080' }],
      '82/udp': [{ HostIp: '', HostPort: '8000-8010' }],
    });
    expect(portMap([], [], false)).toEqual({});
  });
});
