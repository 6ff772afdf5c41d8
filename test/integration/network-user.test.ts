/**
 * User-defined networks with real traffic, only to this machine: containers find each
 * other by name and alias through berth's DNS responder, which forwards other names to an
 * upstream (a fake DNS server of the test's on loopback) except on an --internal network;
 * two networks cannot reach each other; an internal network has no way out; connect and
 * disconnect of a running container; --network container:NAME and none; --ip, --mac-address,
 * --add-host, --dns-search; network create/ls/inspect/rm/prune and their refusals.
 *
 * Subnets come from the store's own block (test/helpers/network.ts).
 */
import { createSocket, type Socket } from 'node:dgram';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { runText } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'ip', 'nft'] });

/**
 * A fake upstream DNS server: answers every A question with 192.0.2.123 (TEST-NET-1,
 * never routed) and counts the queries.
 */
async function fakeUpstream(address: string): Promise<{ socket: Socket; queries: string[] }> {
  const socket = createSocket('udp4');
  const queries: string[] = [];
  socket.on('message', (msg, from) => {
    // Header (12 bytes), then the question's labels.
    let i = 12;
    const labels: string[] = [];
    while (i < msg.length && msg[i] !== 0) {
      const len = msg[i] ?? 0;
      labels.push(msg.subarray(i + 1, i + 1 + len).toString('ascii'));
      i += len + 1;
    }
    queries.push(labels.join('.'));
    const question = msg.subarray(12, i + 5);
    const header = Buffer.from([msg[0] ?? 0, msg[1] ?? 0, 0x81, 0x80, 0, 1, 0, 1, 0, 0, 0, 0]);
    const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 123]);
    socket.send(Buffer.concat([header, question, answer]), from.port, from.address);
  });
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject);
    socket.bind(53, address, () => resolve());
  });
  return { socket, queries };
}

describe.skipIf(skip !== undefined)('user-defined networks', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('net-user');
  }, 120_000);

  afterAll(async () => {
    await h?.cleanup();
  });

  const net = async (name: string, i: number, ...flags: string[]): Promise<string> =>
    (await h.berthOk(['network', 'create', '--subnet', h.network.userSubnet(i), ...flags, name])).stdout.trim();

  it('resolves containers by name and alias, forwards other names upstream, and keeps networks apart', async () => {
    await net('front', 0);
    await net('back', 1);
    // A loopback address of the test's own for the fake upstream (port 53).
    const second = Number(h.network.subnet.split('.')[1]);
    const upstreamAddress = `127.0.53.${second}`;
    const upstream = await fakeUpstream(upstreamAddress);
    const ids: string[] = [];
    try {
      ids.push(await h.runDetached(['--network', 'front', '--name', 'web', '--network-alias', 'www'], ['sleep', '300']));
      ids.push(await h.runDetached(['--network', 'back', '--name', 'db'], ['sleep', '300']));
      const resolved = await h.berthOk(['run', '--rm', '--network', 'front', '--dns', upstreamAddress, h.image, 'sh', '-c',
        'cat /etc/resolv.conf; nslookup web; nslookup www; nslookup WEB; ping -c1 -W2 web >/dev/null && echo ping-web-ok; nslookup example.test; nslookup db; true']);
      const webDoc = await h.inspect('web');
      const webIp = String(((webDoc['NetworkSettings'] as Record<string, Record<string, Record<string, unknown>>>)['Networks']?.['front'])?.['IPAddress']);
      const gateway = h.network.userSubnet(0).replace(/0\/24$/, '1');
      expect(resolved.stdout).toContain(`nameserver ${gateway}`);
      expect(resolved.stdout.match(new RegExp(`Address: ${webIp.replace(/\./g, '\\.')}`, 'g'))?.length).toBe(3);
      expect(resolved.stdout).toContain('ping-web-ok');
      expect(resolved.stdout).toContain('Address: 192.0.2.123');
      expect(upstream.queries).toContain('example.test');
      // db is on the other network: not resolved by name here, and not reachable by address.
      expect(upstream.queries.some((q) => q.startsWith('db'))).toBe(true);
      const dbDoc = await h.inspect('db');
      const dbIp = String(((dbDoc['NetworkSettings'] as Record<string, Record<string, Record<string, unknown>>>)['Networks']?.['back'])?.['IPAddress']);
      const apart = await h.berth(['exec', 'web', 'ping', '-c1', '-W1', dbIp]);
      expect(apart.code).not.toBe(0);
      // network inspect lists both containers' endpoints on their networks.
      const inspected = JSON.parse((await h.berthOk(['network', 'inspect', 'front'])).stdout) as Record<string, unknown>[];
      expect(inspected[0]?.['Name']).toBe('front');
      expect(JSON.stringify(inspected[0]?.['Containers'])).toContain('"Name":"web"');
      expect((inspected[0]?.['IPAM'] as { Config: unknown[] }).Config).toEqual([{ Subnet: h.network.userSubnet(0), Gateway: gateway }]);
      const ls = (await h.berthOk(['network', 'ls', '--format', '{{.Name}} {{.Driver}}'])).stdout.split('\n');
      for (const row of ['bridge bridge', 'front bridge', 'back bridge', 'host host', 'none null']) expect(ls).toContain(row);
      expect((await h.berthOk(['network', 'ls', '-f', 'name=fron', '--format', '{{.Name}}'])).stdout).toBe('front\n');
      expect((await h.berthOk(['network', 'ls', '-f', 'type=builtin', '--format', '{{.Name}}'])).stdout).toBe('bridge\nhost\nnone\n');
      // rm refuses a network with containers.
      const busy = await h.berth(['network', 'rm', 'front']);
      expect(busy.code).toBe(125);
      expect(busy.stderr).toContain('has active endpoints (web)');
    } finally {
      upstream.socket.close();
      await h.removeQuietly(...ids);
      await h.berth(['network', 'rm', 'front', 'back']);
    }
    expect((await h.berthOk(['network', 'ls', '-q'])).stdout.trim().split('\n')).toHaveLength(3);
  });

  it('an --internal network: names resolve, nothing goes out, no upstream DNS', async () => {
    await net('inside', 2, '--internal');
    const neighbour = h.network.gateway;
    try {
      await h.withContainer(['--network', 'inside', '--name', 'peer'], ['sleep', '300'], async () => {
        const { stdout } = await h.berthOk(['run', '--rm', '--network', 'inside', h.image, 'sh', '-c',
          `nslookup peer >/dev/null && echo name-ok; ip route; ping -c1 -W1 ${neighbour} >/dev/null && echo out-ok; nslookup example.test >/dev/null || echo no-upstream; true`]);
        expect(stdout).toContain('name-ok');
        expect(stdout).not.toContain('default via');
        expect(stdout).not.toContain('out-ok');
        expect(stdout).toContain('no-upstream');
      });
    } finally {
      await h.berth(['network', 'rm', 'inside']);
    }
  });

  it('connects and disconnects a running container: eth1 comes and goes, names follow, /etc/hosts is rewritten', async () => {
    await net('extra', 3);
    try {
      await h.withContainer(['--name', 'roamer', '--hostname', 'roamer-host', '-p', '127.0.0.1:18471:7000'], ['nc', '-ll', '-p', '7000', '-e', 'echo', 'roamer-port'], async (id) => {
        await h.berthOk(['network', 'connect', '--alias', 'wanderer', 'extra', id]);
        // Its published port still leads to its address on the network it was created on.
        expect(await runText('busybox', ['nc', '-w', '2', '127.0.0.1', '18471'], { input: '' })).toContain('roamer-port');
        const after = await h.berthOk(['exec', id, 'sh', '-c', 'ip -4 -o addr show eth1; cat /etc/hosts']);
        const prefix = h.network.userSubnet(3).replace(/0\/24$/, '');
        expect(after.stdout).toContain(`inet ${prefix}`);
        expect(after.stdout.match(/\troamer-host/g)?.length).toBe(2);
        const found = await h.berthOk(['run', '--rm', '--network', 'extra', h.image, 'sh', '-c', 'nslookup wanderer; nslookup roamer']);
        expect(found.stdout.match(new RegExp(`Address: ${prefix.replace(/\./g, '\\.')}`, 'g'))?.length).toBe(2);
        await h.berthOk(['network', 'disconnect', 'extra', id]);
        const gone = await h.berth(['exec', id, 'ip', 'link', 'show', 'eth1']);
        expect(gone.code).not.toBe(0);
        expect((await h.berthOk(['exec', id, 'cat', '/etc/hosts'])).stdout.match(/\troamer-host/g)?.length).toBe(1);
        const missing = await h.berth(['network', 'disconnect', 'extra', id]);
        expect(missing.code).toBe(125);
      });
    } finally {
      await h.berth(['network', 'rm', 'extra']);
    }
  });

  it('takes --ip, --mac-address, --add-host, --dns-search, and refuses an address outside the subnet or in use', async () => {
    await net('fixed', 4);
    const prefix = h.network.userSubnet(4).replace(/0\/24$/, '');
    try {
      const { stdout } = await h.berthOk(['run', '--rm', '--network', 'fixed', '--ip', `${prefix}77`, '--mac-address', '02:42:aa:bb:cc:dd',
        '--add-host', 'db.example:192.0.2.10', '--add-host', 'gw:host-gateway', '--dns-search', 'corp.example', h.image, 'sh', '-c', 'ip -o addr show eth0; ip link show eth0; cat /etc/hosts /etc/resolv.conf']);
      expect(stdout).toContain(`inet ${prefix}77/24`);
      expect(stdout).toContain('link/ether 02:42:aa:bb:cc:dd');
      expect(stdout).toContain('192.0.2.10\tdb.example');
      expect(stdout).toContain(`${h.network.gateway}\tgw`);
      expect(stdout).toContain('search corp.example');
      await h.withContainer(['--network', 'fixed', '--ip', `${prefix}78`], ['sleep', '100'], async () => {
        const taken = await h.berth(['run', '--rm', '--network', 'fixed', '--ip', `${prefix}78`, h.image, 'true']);
        expect(taken.code).toBe(125);
        expect(taken.stderr).toContain(`Address ${prefix}78 is already in use on network fixed`);
      });
      const outside = await h.berth(['run', '--rm', '--network', 'fixed', '--ip', '192.0.2.5', h.image, 'true']);
      expect(outside.code).toBe(125);
      expect(outside.stderr).toContain(`Address 192.0.2.5 is outside network fixed's subnet ${h.network.userSubnet(4)}`);
    } finally {
      await h.berth(['network', 'rm', 'fixed']);
    }
    expect(await h.leftovers()).toEqual([]);
  });

  it('shares a container\'s network with --network container:NAME; --network none has lo only', async () => {
    await h.withContainer(['--name', 'owner'], ['sleep', '300'], async () => {
      const own = (await h.berthOk(['exec', 'owner', 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout;
      const joined = (await h.berthOk(['run', '--rm', '--network', 'container:owner', h.image, 'ip', '-4', '-o', 'addr', 'show', 'eth0'])).stdout;
      expect(joined.split(/\s+/)[3]).toBe(own.split(/\s+/)[3]);
    });
    const none = (await h.berthOk(['run', '--rm', '--network', 'none', h.image, 'ip', '-o', 'link'])).stdout.trim().split('\n');
    expect(none).toHaveLength(1);
    expect(none[0]).toContain('lo:');
  });

  it('refuses overlapping subnets, a subnet of a host route, reserved names, and prunes unused networks', async () => {
    await net('first', 5);
    try {
      const overlap = await h.berth(['network', 'create', '--subnet', h.network.userSubnet(5).replace(/\/24$/, '/25'), 'second']);
      expect(overlap.code).toBe(125);
      expect(overlap.stderr).toContain('overlaps network first');
      const routes = await runText('ip', ['-4', 'route', 'show', 'scope', 'link']);
      const hostRoute = routes.split('\n').map((l) => l.split(' ')[0] ?? '').find((r) => r.includes('/') && !r.startsWith('10.'));
      if (hostRoute !== undefined) {
        const onHost = await h.berth(['network', 'create', '--subnet', hostRoute, 'third']);
        expect(onHost.code).toBe(125);
        expect(onHost.stderr).toContain('overlaps the host\'s route');
      }
      const reserved = await h.berth(['network', 'create', 'host']);
      expect(reserved.code).toBe(125);
      const dup = await h.berth(['network', 'create', 'first']);
      expect(dup.code).toBe(125);
      expect(dup.stderr).toContain('network with name first already exists');
      const auto = await h.berthOk(['network', 'create', 'pooled']);
      const doc = JSON.parse((await h.berthOk(['network', 'inspect', auto.stdout.trim()])).stdout) as { IPAM: { Config: { Subnet: string }[] } }[];
      expect(doc[0]?.IPAM.Config[0]?.Subnet).toMatch(/^10\.\d+\.\d+\.0\/24$/);
      const pruned = await h.berthOk(['network', 'prune', '-f']);
      expect(pruned.stdout).toContain('first');
      expect(pruned.stdout).toContain('pooled');
      expect(await runText('ip', ['-o', 'link', 'show', 'type', 'bridge'])).not.toContain(`br-${auto.stdout.trim().slice(0, 12)}`);
    } finally {
      await h.berth(['network', 'rm', 'first', 'pooled']);
    }
  });
});
