/**
 * The default network with real traffic, only to this machine: the container's interface,
 * address and route, published TCP and UDP ports reached through 127.0.0.1 and the host's
 * bridge address, a container reaching its own published port (hairpin) and another's,
 * a neighbour network namespace on a bridge of the test's own ("another host") that reaches
 * a port published on all addresses but not one published on 127.0.0.1, 50 containers
 * with distinct leases, leases kept across restarts, refusals that leave nothing behind,
 * and teardown (veth, netns, nftables rules) on stop, rm and after a killed monitor.
 *
 * The store's default bridge and subnet are its own (test/helpers/network.ts).
 */
import { createSocket } from 'node:dgram';
import { existsSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { networkInterfaces } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpContainers, sleep, type ContainerHarness } from '../helpers/containers.js';
import { runText } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'ip', 'nft', 'nsenter'] });

/** Sends `message` to a TCP port and resolves with everything read until the peer closes (or `ms`). */
function tcpExchange(host: string, port: number, message: string, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    let data = '';
    const timer = setTimeout(() => {
      socket.destroy();
      resolve(data);
    }, ms);
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => {
      data += d;
    });
    socket.on('end', () => {
      clearTimeout(timer);
      resolve(data);
    });
    socket.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    socket.write(message);
  });
}

/** Sends one UDP datagram and resolves with the first reply, or undefined after `ms`. */
function udpExchange(host: string, port: number, message: string, ms = 2000): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = createSocket('udp4');
    const timer = setTimeout(() => {
      socket.close();
      resolve(undefined);
    }, ms);
    socket.on('message', (m) => {
      clearTimeout(timer);
      socket.close();
      resolve(m.toString('utf8'));
    });
    socket.send(message, port, host);
  });
}

describe.skipIf(skip !== undefined)('the default bridge network', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('net-bridge');
  }, 120_000);

  afterAll(async () => {
    await h?.cleanup();
  });

  /** The container's address on its first network, from inspect. */
  async function addressOf(container: string): Promise<string> {
    const doc = await h.inspect(container);
    return String((doc['NetworkSettings'] as Record<string, unknown>)['IPAddress']);
  }

  /** A TCP server in the container on `port` that answers each connection with `reply` (busybox nc, persistent). */
  const tcpServer = (port: number, reply: string): string[] => ['nc', '-ll', '-p', String(port), '-e', 'echo', reply];

  it('gives the container eth0 with an address of the subnet, the default route, lo, and its address in /etc/hosts', async () => {
    // The links are as large as loopback's for traffic on the host; what leaves it takes the
    // default route at docker's 1500 (or the uplink's, when smaller).
    await h.withContainer([], ['sleep', '60'], async (id) => {
      const routes = await runText('nsenter', [`--net=/run/berth/netns/${id}`, 'ip', 'route']);
      // docker's 1500, or less when the host's own uplink has less (1400 on CI's machines).
      const uplink = (await runText('ip', ['-o', 'route', 'show', 'default'])).split(' ')[4] ?? '';
      const uplinkMtu = Number((await runText('cat', [`/sys/class/net/${uplink}/mtu`]).catch(() => '1500')).trim());
      expect(routes).toContain(`default via ${h.network.gateway} dev eth0 mtu ${Math.min(1500, uplinkMtu)}`);
      expect(await runText('nsenter', [`--net=/run/berth/netns/${id}`, 'ip', 'link', 'show', 'eth0'])).toContain(' mtu 65520 ');
    });
    const { stdout } = await h.berthOk(['run', '--rm', '--hostname', 'probe-host', h.image, 'sh', '-c', 'ip -4 addr show; ip route; cat /etc/hosts; cat /etc/resolv.conf']);
    const prefix = h.network.subnet.replace(/\.0\/24$/, '.');
    expect(stdout).toMatch(/1: lo: <LOOPBACK,UP,LOWER_UP>/);
    expect(stdout).toMatch(new RegExp(`inet ${prefix.replace(/\./g, '\\.')}\\d+/24 .* eth0`));
    expect(stdout).toContain(`default via ${h.network.gateway} dev eth0`);
    expect(stdout).toMatch(new RegExp(`${prefix.replace(/\./g, '\\.')}\\d+\\tprobe-host`));
    expect(stdout).toMatch(/nameserver /);
  });

  it('reaches the host through the gateway (ping), and a host TCP server on the gateway address', async () => {
    const server = createServer((socket) => socket.end('hello from the host\n'));
    await new Promise<void>((resolve) => server.listen(0, h.network.gateway, resolve));
    const address = server.address();
    const port = typeof address === 'object' && address !== null ? address.port : 0;
    try {
      const { stdout } = await h.berthOk(['run', '--rm', h.image, 'sh', '-c', `ping -c1 -W2 ${h.network.gateway} >/dev/null && echo ping-ok; nc ${h.network.gateway} ${port} </dev/null`]);
      expect(stdout).toContain('ping-ok');
      expect(stdout).toContain('hello from the host');
    } finally {
      server.close();
    }
  });

  it('publishes TCP on 127.0.0.1 and on the host\'s addresses, and UDP; port and inspect show them; the container reaches its own port (hairpin)', async () => {
    await h.withContainer(['-p', '18431:7000', '-p', '18432:7001/udp', '-p', '127.0.0.1::7000'], ['sh', '-c', `/probe --udp-echo 7001 & exec ${tcpServer(7000, 'tcp-answer').join(' ')}`], async (id) => {
      await h.waitForLog(id, 'listening on udp 7001');
      expect(await tcpExchange('127.0.0.1', 18431, '')).toContain('tcp-answer');
      expect(await tcpExchange(h.network.gateway, 18431, '')).toContain('tcp-answer');
      // The host's own address on its uplink (traffic to it stays on this machine).
      const uplink = Object.entries(networkInterfaces()).flatMap(([name, list]) => (name === 'lo' || name.startsWith('bt') || name.startsWith('br') || name.startsWith('berth') || name.startsWith('veth') ? [] : list ?? []))
        .find((a) => a.family === 'IPv4' && !a.internal);
      if (uplink !== undefined) expect(await tcpExchange(uplink.address, 18431, '')).toContain('tcp-answer');
      expect(await udpExchange('127.0.0.1', 18432, 'ping-udp')).toBe('echo:ping-udp');
      expect(await udpExchange(h.network.gateway, 18432, 'ping-udp2')).toBe('echo:ping-udp2');
      const lines = (await h.berthOk(['port', id])).stdout.trim().split('\n');
      expect(lines).toContain('7000/tcp -> 0.0.0.0:18431');
      expect(lines).toContain('7001/udp -> 0.0.0.0:18432');
      const random = lines.find((l) => l.startsWith('7000/tcp -> 127.0.0.1:'));
      expect(random).toBeDefined();
      const randomPort = Number(random?.split(':').at(-1));
      expect(randomPort).toBeGreaterThan(1024);
      expect(await tcpExchange('127.0.0.1', randomPort, '')).toContain('tcp-answer');
      expect((await h.berthOk(['port', id, '7001/udp'])).stdout).toBe('0.0.0.0:18432\n');
      const doc = await h.inspect(id);
      const ports = (doc['NetworkSettings'] as Record<string, unknown>)['Ports'] as Record<string, unknown>;
      expect(ports['7001/udp']).toEqual([{ HostIp: '0.0.0.0', HostPort: '18432' }]);
      const ps = (await h.berthOk(['ps', '--filter', `id=${id}`, '--format', '{{.Ports}}'])).stdout;
      expect(ps).toContain('0.0.0.0:18431->7000/tcp');
      // Hairpin: the container connects to its own published port through the host's address.
      const own = await h.berthOk(['exec', id, 'sh', '-c', `nc ${h.network.gateway} 18431 </dev/null`]);
      expect(own.stdout).toContain('tcp-answer');
      // Another container on the same bridge, through the published port.
      const other = await h.berthOk(['run', '--rm', h.image, 'sh', '-c', `nc ${h.network.gateway} 18431 </dev/null`]);
      expect(other.stdout).toContain('tcp-answer');
    });
  });

  it('publishes -P on free host ports, and --expose shows in ps without publishing', async () => {
    await h.withContainer(['-P', '--expose', '7100', '--expose', '7200-7201/udp'], tcpServer(7100, 'exposed'), async (id) => {
      const lines = (await h.berthOk(['port', id])).stdout.trim().split('\n');
      expect(lines.map((l) => l.split(' -> ')[0]).sort()).toEqual(['7100/tcp', '7200/udp', '7201/udp']);
      const port = Number(lines.find((l) => l.startsWith('7100/tcp'))?.split(':').at(-1));
      expect(await tcpExchange('127.0.0.1', port, '')).toContain('exposed');
    });
    await h.withContainer(['--expose', '7300'], ['sleep', '100'], async (id) => {
      expect((await h.berthOk(['ps', '--filter', `id=${id}`, '--format', '{{.Ports}}'])).stdout).toBe('7300/tcp\n');
      expect((await h.berthOk(['port', id])).stdout).toBe('');
    });
  });

  it('a neighbour host on another bridge reaches a port published on all addresses, not one published on 127.0.0.1', async () => {
    const bridge = h.network.outsideName('b');
    const ns = h.network.outsideName('ns');
    const veth = h.network.outsideName('v');
    const base = h.network.outsideSubnet.replace(/\.0\/24$/, '.');
    const hostSide = `${base}1`;
    const neighbour = `${base}2`;
    const cleanup = async (): Promise<void> => {
      await runText('ip', ['netns', 'del', ns]).catch(() => undefined);
      await runText('ip', ['link', 'del', bridge]).catch(() => undefined);
      await runText('ip', ['link', 'del', veth]).catch(() => undefined);
    };
    await cleanup();
    try {
      await runText('ip', ['netns', 'add', ns]);
      await runText('ip', ['link', 'add', bridge, 'type', 'bridge']);
      await runText('ip', ['addr', 'add', `${hostSide}/24`, 'dev', bridge]);
      await runText('ip', ['link', 'set', bridge, 'up']);
      await runText('ip', ['link', 'add', veth, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
      await runText('ip', ['link', 'set', veth, 'master', bridge, 'up']);
      await runText('ip', ['-n', ns, 'addr', 'add', `${neighbour}/24`, 'dev', 'eth0']);
      await runText('ip', ['-n', ns, 'link', 'set', 'eth0', 'up']);
      await runText('ip', ['-n', ns, 'link', 'set', 'lo', 'up']);
      await runText('ip', ['-n', ns, 'route', 'add', 'default', 'via', hostSide]);
      await h.withContainer(['-p', '18441:7000', '-p', '127.0.0.1:18442:7000'], tcpServer(7000, 'neighbour-answer'), async () => {
        const from = (target: string, port: number): Promise<string> =>
          runText('ip', ['netns', 'exec', ns, 'busybox', 'sh', '-c', `busybox nc -w 2 ${target} ${port} </dev/null; true`]);
        expect(await from(hostSide, 18441)).toContain('neighbour-answer');
        expect(await from(hostSide, 18442)).not.toContain('neighbour-answer');
        // Nor by sending to 127.0.0.1 through the host (the route_localnet hole docker had).
        await runText('ip', ['-n', ns, 'route', 'add', '127.0.0.1/32', 'via', hostSide]).catch(() => undefined);
        expect(await from('127.0.0.1', 18442)).not.toContain('neighbour-answer');
        // The container on berth's bridge reaches the neighbour (outbound NAT), which sees the host's address.
        const out = await h.berthOk(['run', '--rm', h.image, 'sh', '-c', `ping -c1 -W2 ${neighbour} >/dev/null && echo out-ok`]);
        expect(out.stdout).toContain('out-ok');
      });
    } finally {
      await cleanup();
    }
  });

  it('gives 50 containers distinct leases, kept by a container across stop and start, and released by rm', async () => {
    const ids: string[] = [];
    try {
      for (let i = 0; i < 50; i++) ids.push(await h.runDetached(['--name', `lease-${i}`], ['sleep', '300']));
      const addresses = await Promise.all(ids.map((id) => addressOf(id)));
      expect(new Set(addresses).size).toBe(50);
      for (const a of addresses) expect(a.startsWith(h.network.subnet.replace(/0\/24$/, ''))).toBe(true);
      const first = addresses[0] ?? '';
      await h.berthOk(['stop', '-t', '0', 'lease-0']);
      expect(existsSync(`/run/berth/netns/${ids[0] ?? ''}`)).toBe(false);
      await h.berthOk(['start', 'lease-0']);
      expect(await addressOf('lease-0')).toBe(first);
      const pinged = await h.berthOk(['exec', 'lease-1', 'ping', '-c1', '-W2', first]);
      expect(pinged.code).toBe(0);
      await h.berthOk(['rm', '-f', 'lease-0']);
      const reused = await h.runDetached(['--name', 'lease-new'], ['sleep', '300']);
      ids.push(reused);
      expect(await addressOf(reused)).toBe(first);
    } finally {
      await h.removeQuietly(...ids);
    }
  }, 180_000);

  it('refuses a host port in use, an unknown network, --ip on the default network, and leaves nothing behind', async () => {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(18451, '0.0.0.0', resolve));
    try {
      const before = await runText('nft', ['list', 'table', 'ip', h.network.table]).catch(() => '');
      const busy = await h.berth(['run', '-d', '--name', 'busy-port', '-p', '18451:80', h.image, 'sleep', '10']);
      expect(busy.code).toBe(125);
      expect(busy.stderr).toContain('Bind for 0.0.0.0:18451 failed: port is already allocated');
      expect((await h.berth(['ps', '-a', '--filter', 'name=busy-port', '-q'])).stdout).toBe('');
      expect(await runText('nft', ['list', 'table', 'ip', h.network.table]).catch(() => '')).toBe(before);
    } finally {
      server.close();
    }
    const unknown = await h.berth(['run', '--rm', '--network', 'no-such-net', h.image, 'true']);
    expect(unknown.code).toBe(125);
    expect(unknown.stderr).toContain('network no-such-net not found');
    const ip = await h.berth(['run', '--rm', '--ip', '10.1.2.3', h.image, 'true']);
    expect(ip.code).toBe(125);
    expect(ip.stderr).toContain('user specified IP address is supported on user defined networks only');
    // A second container cannot take a host port the first one holds.
    await h.withContainer(['-p', '18452:80'], ['sleep', '100'], async () => {
      const second = await h.berth(['run', '--rm', '-p', '18452:80', h.image, 'true']);
      expect(second.code).toBe(125);
      expect(second.stderr).toContain('Bind for 0.0.0.0:18452 failed: port is already allocated');
    });
    expect(await h.leftovers()).toEqual([]);
  });

  it('tears down veth, netns and port rules on stop and rm, and after a killed monitor on system prune', async () => {
    const id = await h.runDetached(['-p', '18461:80'], ['sleep', '300']);
    const netns = `/run/berth/netns/${id}`;
    expect(existsSync(netns)).toBe(true);
    expect(await runText('nft', ['list', 'table', 'ip', h.network.table])).toContain('dport 18461');
    const vethCount = async (): Promise<number> => (await runText('ip', ['-o', 'link', 'show', 'master', h.network.bridge])).split('\n').filter((l) => l.includes('veth')).length;
    const withOne = await vethCount();
    await h.berthOk(['stop', '-t', '0', id]);
    expect(existsSync(netns)).toBe(false);
    expect(await runText('nft', ['list', 'table', 'ip', h.network.table])).not.toContain('dport 18461');
    expect(await vethCount()).toBe(withOne - 1);
    // A container that ends by itself: its monitor's cleanup tears it down.
    const done = await h.runDetached([], ['sh', '-c', 'sleep 0.3']);
    await h.berthOk(['wait', done]);
    const deadline = Date.now() + 10_000;
    while (existsSync(`/run/berth/netns/${done}`) && Date.now() < deadline) await sleep(100);
    expect(existsSync(`/run/berth/netns/${done}`)).toBe(false);
    // A monitor killed with -9 leaves the namespace; system prune removes it.
    const killed = await h.runDetached(['-p', '18462:80'], ['sleep', '300']);
    const doc = await h.inspect(killed);
    const pid = Number((doc['State'] as Record<string, unknown>)['Pid']);
    const monitor = Number((await runText('ps', ['-o', 'ppid=', '-p', String(pid)])).trim());
    process.kill(monitor, 'SIGKILL');
    process.kill(pid, 'SIGKILL');
    await sleep(300);
    await h.berthOk(['system', 'prune', '-f']);
    expect(existsSync(`/run/berth/netns/${killed}`)).toBe(false);
    expect(await runText('nft', ['list', 'table', 'ip', h.network.table])).not.toContain('dport 18462');
    await h.removeQuietly(id, done, killed);
    expect(await h.leftovers()).toEqual([]);
  });
});
