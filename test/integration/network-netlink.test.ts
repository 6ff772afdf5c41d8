/**
 * berth-net (runtime/native/net.c) through network/netlink.ts on this host's kernel: a
 * bridge, namespaces bind-mounted the way `ip netns add` does, veth pairs into them, and
 * what `ip` then sees (addresses, MAC, route, MTUs, master, hairpin, lo), traffic from a
 * namespace to the bridge, teardown, and failures that leave nothing behind.
 *
 * The test's own names: bridge `bnl0t` with 10.231.7.1/24, host interfaces `vnlt<hex>`,
 * namespaces at /run/berth/netns/test-nl-<hex> (and one under a fresh directory of its
 * own, /run/berth-test-nl-<hex>/netns). It touches nothing else; afterEach and afterAll
 * remove everything it made, after failures too.
 */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NetworkError } from '../../common/errors.js';
import { attachInterface, detachInterface, ensureBridge, findNetProgram, removeBridge, type AttachOptions } from '../../network/netlink.js';
import { run, runText } from '../helpers/exec.js';
import { checkPrerequisites, skipReason } from '../helpers/require.js';

/** `ping` when the host has it, else busybox's. */
function pingCommand(): string[] | undefined {
  for (const candidate of [['ping'], ['busybox', 'ping']]) {
    try {
      execFileSync('sh', ['-c', `command -v ${candidate[0] ?? ''}`], { stdio: 'ignore' });
      return candidate;
    } catch {
      // try the next one
    }
  }
  return undefined;
}

function netProgram(): string | undefined {
  try {
    return findNetProgram();
  } catch {
    return undefined;
  }
}

const ping = pingCommand();
const program = netProgram();
const skip = checkPrerequisites({ root: true, commands: ['ip', 'nsenter', 'umount'] })
  ?? skipReason([...(ping === undefined ? ['ping or busybox'] : []), ...(program === undefined ? ['dist/native/berth-net (npm run build)'] : [])]);

const bridge = 'bnl0t';
const gateway = '10.231.7.1';
/** A veth pair of the test's own: something that is not a bridge. */
const notBridge = ['bnl0tvx', 'bnl0tvy'] as const;

/** Mount points in /proc/self/mountinfo (field 5, octal escapes undone) with their optional fields. */
function mounts(): Map<string, string> {
  const result = new Map<string, string>();
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    const fields = line.split(' ');
    const point = fields[4];
    if (point === undefined) continue;
    const optional = fields.slice(6, fields.indexOf('-')).join(' ');
    result.set(point.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))), optional);
  }
  return result;
}

/** `ip -j [-d] link show name` in the host's namespace, or undefined when there is none. */
async function hostLink(name: string): Promise<Record<string, unknown> | undefined> {
  const r = await run('ip', ['-j', '-d', 'link', 'show', 'dev', name], { okCodes: [0, 1] });
  const links = JSON.parse(r.stdout.toString('utf8') || '[]') as Record<string, unknown>[];
  return links[0];
}

/** `ip -j ARGS` inside the namespace at path. */
async function ipIn(path: string, args: readonly string[]): Promise<Record<string, unknown>[]> {
  return JSON.parse(await runText('nsenter', [`--net=${path}`, 'ip', '-j', ...args])) as Record<string, unknown>[];
}

function ipv4Of(link: Record<string, unknown> | undefined): string[] {
  const info = (link?.['addr_info'] ?? []) as { family: string; local: string; prefixlen: number }[];
  return info.filter((a) => a.family === 'inet').map((a) => `${a.local}/${a.prefixlen}`);
}

describe.skipIf(skip !== undefined)('berth-net on this host', () => {
  const net = program ?? '';
  /** What the test made, for cleanup: namespace files, host interfaces, directories to unmount. */
  const netnsFiles = new Set<string>();
  const hostIfs = new Set<string>();
  const dirs = new Set<string>();

  function newNetns(): string {
    const path = `/run/berth/netns/test-nl-${randomBytes(4).toString('hex')}`;
    netnsFiles.add(path);
    return path;
  }

  function newHostIf(): string {
    const name = `vnlt${randomBytes(4).toString('hex')}`;
    hostIfs.add(name);
    return name;
  }

  function options(netns: string, hostIf: string, more: Partial<AttachOptions> = {}): AttachOptions {
    return { netns, create: true, bridge, hostIf, ifName: 'eth0', mac: '02:42:0a:e7:07:02', address: '10.231.7.2/24', ...more };
  }

  /** True when neither the file, its mount nor the host interface is left. */
  async function expectGone(netns: string, hostIf: string): Promise<void> {
    expect(existsSync(netns)).toBe(false);
    expect(mounts().has(netns)).toBe(false);
    expect(await hostLink(hostIf)).toBeUndefined();
  }

  beforeAll(async () => {
    // A bridge of this name is this test's, left by a run that died.
    removeBridge(net, bridge);
    await run('ip', ['link', 'del', notBridge[0]], { okCodes: [0, 1] });
    ensureBridge(net, { name: bridge, address: `${gateway}/24`, mtu: 1500 });
    await run('ip', ['link', 'add', notBridge[0], 'type', 'veth', 'peer', 'name', notBridge[1]]);
  });

  // Runs after failures too: every namespace, pair and directory this test made.
  afterEach(async () => {
    const problems: string[] = [];
    for (const name of hostIfs) await run('ip', ['link', 'del', name], { okCodes: [0, 1] }).catch((err: unknown) => problems.push(String(err)));
    hostIfs.clear();
    for (const path of netnsFiles) {
      await detachInterface(net, { netns: path, removeNetns: true }).catch((err: unknown) => problems.push(String(err)));
      if (existsSync(path) || mounts().has(path)) problems.push(`"${path}" is left`);
    }
    netnsFiles.clear();
    for (const dir of dirs) {
      if (mounts().has(dir)) await run('umount', ['-l', dir]).catch((err: unknown) => problems.push(String(err)));
      rmSync(dir, { recursive: true, force: true });
      rmdirSync(dirname(dir));
    }
    dirs.clear();
    expect(problems).toEqual([]);
  });

  afterAll(async () => {
    if (program === undefined) return;
    await run('ip', ['link', 'del', notBridge[0]], { okCodes: [0, 1] });
    removeBridge(net, bridge);
    expect(await hostLink(bridge)).toBeUndefined();
  });

  it('ensureBridge makes the bridge with its address and MTU, up, and is idempotent', async () => {
    ensureBridge(net, { name: bridge, address: `${gateway}/24`, mtu: 1500 });
    const link = await hostLink(bridge);
    expect((link?.['linkinfo'] as Record<string, unknown>)['info_kind']).toBe('bridge');
    expect(link?.['flags']).toContain('UP');
    expect(link?.['mtu']).toBe(1500);
    const [withAddress] = JSON.parse(await runText('ip', ['-j', 'addr', 'show', 'dev', bridge])) as Record<string, unknown>[];
    expect(ipv4Of(withAddress)).toEqual([`${gateway}/24`]);
  });

  it('ensureBridge and removeBridge refuse a link that is not a bridge, and leave it alone', async () => {
    expect(() => ensureBridge(net, { name: notBridge[0], address: '10.231.7.250/24' })).toThrow(`bridge ${notBridge[0]}: ${notBridge[0]} is a veth, not a bridge`);
    expect(() => removeBridge(net, notBridge[0])).toThrow(NetworkError);
    expect(() => removeBridge(net, notBridge[0])).toThrow(`delete bridge ${notBridge[0]}: ${notBridge[0]} is a veth, not a bridge`);
    expect(await hostLink(notBridge[0])).toBeDefined();
    const [link] = JSON.parse(await runText('ip', ['-j', 'addr', 'show', 'dev', notBridge[0]])) as Record<string, unknown>[];
    expect(ipv4Of(link)).toEqual([]);
    removeBridge(net, 'bnl0tnone');
  });

  it('attach --create makes the namespace, the pair, the address, the route and lo; traffic reaches the bridge', async () => {
    const netns = newNetns();
    const hostIf = newHostIf();
    await attachInterface(net, options(netns, hostIf, { gateway, routeMtu: 1400, mtu: 1500 }));

    // The namespace: a file bind-mounted (nsfs) below a shared mount point, as `ip netns add`.
    expect(mounts().has(netns)).toBe(true);
    expect(mounts().get('/run/berth/netns')).toMatch(/shared:\d+/);
    // The host's end: up on the bridge, hairpin on, the MTU.
    const host = await hostLink(hostIf);
    const info = host?.['linkinfo'] as { info_kind: string; info_slave_data: { hairpin: boolean } };
    expect(info.info_kind).toBe('veth');
    expect(host?.['master']).toBe(bridge);
    expect(host?.['flags']).toContain('UP');
    expect(host?.['mtu']).toBe(1500);
    expect(info.info_slave_data.hairpin).toBe(true);
    // The container's end: MAC, address, up, the MTU; lo up; the default route with its MTU.
    const [eth0] = await ipIn(netns, ['addr', 'show', 'dev', 'eth0']);
    expect(eth0?.['address']).toBe('02:42:0a:e7:07:02');
    expect(ipv4Of(eth0)).toEqual(['10.231.7.2/24']);
    expect(eth0?.['flags']).toEqual(expect.arrayContaining(['UP', 'LOWER_UP']));
    expect(eth0?.['mtu']).toBe(1500);
    const [lo] = await ipIn(netns, ['link', 'show', 'dev', 'lo']);
    expect(lo?.['flags']).toContain('UP');
    const routes = await ipIn(netns, ['route', 'show', 'default']);
    expect(routes).toEqual([expect.objectContaining({ dst: 'default', gateway, dev: 'eth0', metrics: [{ mtu: 1400 }] })]);
    await run('nsenter', [`--net=${netns}`, ...(ping ?? []), '-c1', '-W1', gateway]);
    await run('nsenter', [`--net=${netns}`, ...(ping ?? []), '-c1', '-W1', '127.0.0.1']);
  });

  it('attach without --create adds an interface to an existing namespace, and detach without --remove-netns takes only it', async () => {
    const netns = newNetns();
    const first = newHostIf();
    await attachInterface(net, options(netns, first, { gateway }));
    const second = newHostIf();
    await attachInterface(net, options(netns, second, { create: false, ifName: 'eth1', mac: '02:42:0a:e7:07:03', address: '10.231.7.3/24' }));
    const [eth1] = await ipIn(netns, ['addr', 'show', 'dev', 'eth1']);
    expect(eth1?.['address']).toBe('02:42:0a:e7:07:03');
    expect(ipv4Of(eth1)).toEqual(['10.231.7.3/24']);
    expect(eth1?.['flags']).toContain('UP');
    expect(await ipIn(netns, ['route', 'show', 'default'])).toHaveLength(1);
    expect((await hostLink(second))?.['master']).toBe(bridge);

    await detachInterface(net, { netns, hostIf: second, removeNetns: false });
    expect(await hostLink(second)).toBeUndefined();
    expect((await ipIn(netns, ['link', 'show'])).map((l) => l['ifname'])).toEqual(['lo', 'eth0']);
    expect(mounts().has(netns)).toBe(true);
    // Again: a missing interface is fine.
    await detachInterface(net, { netns: '/nonexistent', hostIf: second, removeNetns: false });
  });

  it('detach --remove-netns removes the pair, the file and the mount, and is idempotent', async () => {
    const netns = newNetns();
    const hostIf = newHostIf();
    await attachInterface(net, options(netns, hostIf));
    expect(await hostLink(hostIf)).toBeDefined();
    await detachInterface(net, { netns, hostIf, removeNetns: true });
    await expectGone(netns, hostIf);
    await detachInterface(net, { netns, hostIf, removeNetns: true });
  });

  it('detach refuses to delete a link that is not a veth', async () => {
    await expect(detachInterface(net, { netns: '/nonexistent', hostIf: bridge, removeNetns: false })).rejects.toThrow(`delete veth ${bridge}: ${bridge} is a bridge, not a veth`);
    expect(await hostLink(bridge)).toBeDefined();
  });

  it('attach --create makes the directory of PATH a shared mount point, as ip netns add', async () => {
    const dir = `/run/berth-test-nl-${randomBytes(4).toString('hex')}/netns`;
    dirs.add(dir);
    const netns = `${dir}/ns`;
    netnsFiles.add(netns);
    const hostIf = newHostIf();
    await attachInterface(net, options(netns, hostIf));
    expect(mounts().get(dir)).toMatch(/shared:\d+/);
    expect(mounts().has(netns)).toBe(true);
    await detachInterface(net, { netns, hostIf, removeNetns: true });
    await expectGone(netns, hostIf);
  });

  it('attach to a missing bridge fails and leaves nothing', async () => {
    const netns = newNetns();
    const hostIf = newHostIf();
    const attached = attachInterface(net, options(netns, hostIf, { bridge: 'bnl0tnone' }));
    await expect(attached).rejects.toThrow(NetworkError);
    await expect(attached).rejects.toThrow(/^bridge bnl0tnone does not exist$/);
    await expectGone(netns, hostIf);
  });

  it('attach --create where PATH exists fails and leaves the file and its namespace alone', async () => {
    const plain = newNetns();
    writeFileSync(plain, '');
    const hostIf = newHostIf();
    await expect(attachInterface(net, options(plain, hostIf))).rejects.toThrow(`netns ${plain} exists`);
    expect(existsSync(plain)).toBe(true);
    expect(await hostLink(hostIf)).toBeUndefined();

    const netns = newNetns();
    const first = newHostIf();
    await attachInterface(net, options(netns, first));
    const second = newHostIf();
    await expect(attachInterface(net, options(netns, second, { ifName: 'eth1' }))).rejects.toThrow(`netns ${netns} exists`);
    expect(await hostLink(second)).toBeUndefined();
    expect(mounts().has(netns)).toBe(true);
    expect(ipv4Of((await ipIn(netns, ['addr', 'show', 'dev', 'eth0']))[0])).toEqual(['10.231.7.2/24']);
  });

  it('a failure after the pair is made undoes the pair and the namespace', async () => {
    const netns = newNetns();
    const hostIf = newHostIf();
    // A gateway outside the subnet: the route is refused once the pair and address exist.
    const attached = attachInterface(net, options(netns, hostIf, { gateway: '10.231.8.1' }));
    await expect(attached).rejects.toThrow(`add the default route via 10.231.8.1 in netns ${netns}: Network is unreachable`);
    await expectGone(netns, hostIf);
  });

  it('an interface name taken in the namespace fails with the errno, and leaves the namespace as it was', async () => {
    const netns = newNetns();
    const first = newHostIf();
    await attachInterface(net, options(netns, first));
    const second = newHostIf();
    await expect(attachInterface(net, options(netns, second, { create: false }))).rejects.toThrow(`create veth ${second} on bridge ${bridge}: File exists`);
    expect(await hostLink(second)).toBeUndefined();
    expect(await hostLink(first)).toBeDefined();
    expect((await ipIn(netns, ['link', 'show'])).map((l) => l['ifname'])).toEqual(['lo', 'eth0']);
  });

  it('bad values are refused before anything is made', async () => {
    const netns = newNetns();
    const hostIf = newHostIf();
    await expect(attachInterface(net, options(netns, hostIf, { mac: '02:42:0a:e7:07' }))).rejects.toThrow('bad --mac "02:42:0a:e7:07": expected xx:xx:xx:xx:xx:xx');
    await expect(attachInterface(net, options(netns, hostIf, { address: '10.231.7.2' }))).rejects.toThrow(/^bad --addr "10.231.7.2"/);
    await expect(attachInterface(net, options(netns, hostIf, { gateway: '10.231.7' }))).rejects.toThrow(/^bad --gateway/);
    await expect(attachInterface(net, options(netns, 'vnlt-name-too-long'))).rejects.toThrow(/^bad --host-if "vnlt-name-too-long"/);
    await expectGone(netns, hostIf);
  });
});
