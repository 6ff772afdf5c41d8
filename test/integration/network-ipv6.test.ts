/**
 * IPv6 on the host's side of berth's networks (issue 12, "Secure by default";
 * CVE-2020-13401): berth's networks are IPv4 only, and a bridge with IPv6 on and
 * accept_ra=1 (the default while the host does not forward) takes a container's router
 * advertisements, so a container with CAP_NET_RAW could become the host's IPv6 router.
 * The bridge and the host's veths have IPv6 off, as docker's do; a container's
 * advertisement gives the host no route.
 *
 * The store's default bridge and subnet are its own (test/helpers/network.ts).
 */
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { runText } from '../helpers/exec.js';
import { repoRoot } from '../helpers/berth.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'ip'] });
const hasIpv6 = existsSync('/proc/sys/net/ipv6');

/** The interfaces enslaved to `bridge` (its ports: the host's side of the veth pairs). */
async function portsOf(bridge: string): Promise<string[]> {
  const out = await runText('ip', ['-o', 'link', 'show', 'master', bridge]);
  return out.split('\n').filter((l) => l !== '').map((l) => (l.split(': ')[1] ?? '').split('@')[0] ?? '');
}

/** disable_ipv6 and accept_ra of `ifname` on the host. */
async function ipv6Conf(ifname: string): Promise<{ ifname: string; disable_ipv6: string; accept_ra: string }> {
  const read = async (key: string) => (await readFile(`/proc/sys/net/ipv6/conf/${ifname}/${key}`, 'utf8')).trim();
  return { ifname, disable_ipv6: await read('disable_ipv6'), accept_ra: await read('accept_ra') };
}

const off = (ifname: string) => ({ ifname, disable_ipv6: '1', accept_ra: '0' });

describe.skipIf(skip !== undefined || !hasIpv6)('IPv6 on the host side of berth\'s bridges', () => {
  let h: ContainerHarness;
  let work: string;
  let routerAdvert: string;

  beforeAll(async () => {
    h = await setUpContainers('net-ipv6');
    work = await mkdtemp(join(tmpdir(), 'berth-ipv6-'));
    routerAdvert = join(work, 'router-advert');
    await runText('cc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', routerAdvert, join(repoRoot, 'test', 'fixtures', 'router-advert', 'router-advert.c')]);
  }, 120_000);

  afterAll(async () => {
    await h?.cleanup();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  /** Runs `fn` with a detached container on `network` and the network's bridge. */
  async function onNetwork(network: string, bridge: string): Promise<void> {
    const id = (await h.berthOk(['run', '-d', '--network', network, h.image, 'sleep', '60'])).stdout.trim();
    try {
      const ports = await portsOf(bridge);
      expect(ports).toHaveLength(1);
      const confs = await Promise.all([bridge, ...ports].map(ipv6Conf));
      expect(confs).toEqual([bridge, ...ports].map(off));
    } finally {
      await h.removeQuietly(id);
    }
  }

  it('the default network\'s bridge and the container\'s host veth have IPv6 off', async () => {
    await onNetwork('bridge', h.network.bridge);
  });

  it('a user network\'s bridge and the container\'s host veth have IPv6 off', async () => {
    const net = 'ipv6-user';
    await h.berthOk(['network', 'create', '--subnet', h.network.userSubnet(0), net]);
    try {
      const doc = JSON.parse((await h.berthOk(['network', 'inspect', net])).stdout) as [{ Options: Record<string, string> }];
      const bridge = doc[0].Options['com.docker.network.bridge.name'] ?? '';
      expect(bridge).not.toBe('');
      await onNetwork(net, bridge);
    } finally {
      await h.berth(['network', 'rm', net]);
    }
  });

  it('a container\'s router advertisement gives the host no IPv6 route via the bridge', async () => {
    const bridge = h.network.bridge;
    const result = await h.berth(['run', '--rm', '-v', `${routerAdvert}:/router-advert:ro`, h.image, '/router-advert', 'eth0', '3']);
    try {
      expect(result.stderr).toBe('');
      expect(result.stdout).toBe('sent 3\n');
      expect((await runText('ip', ['-6', 'route', 'show', 'default', 'dev', bridge])).trim()).toBe('');
      expect((await runText('ip', ['-6', 'route', 'show', 'proto', 'ra', 'dev', bridge])).trim()).toBe('');
    } finally {
      // Should the host have taken it, the route it made goes now, not after its lifetime.
      await runText('ip', ['-6', 'route', 'flush', 'dev', bridge, 'proto', 'ra']).catch(() => undefined);
    }
  });
});
