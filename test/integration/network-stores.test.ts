/**
 * Stores side by side on one host (issue 11): a store whose configuration sets no
 * "bridge" or "bip" gets a bridge of its own (berth<10 hex of sha256(root)>) and the first
 * free /16 from 10.79.0.0/16, not the default store's berth0 and 10.77.0.0/16, and runs
 * containers beside another store in use; its choice stays across runs; a "bip" that
 * overlaps another store's bridge is still refused clearly; and the bridge and nftables
 * table of a store whose root was deleted are berth's, marked with that root, and
 * reclaimed by `system prune` of another store, which leaves the live stores' alone.
 *
 * The store of the harness (the "other store in use") has its own sandbox block, as in
 * every test (test/helpers/network.ts); the stores made here have no network settings at
 * all, so their bridges are named from their temp roots (no parallel test has them) and
 * take free subnets of 10.79.0.0/16 to 10.95.0.0/16. afterAll removes their containers,
 * bridges and tables whatever happened, also a berth0 that a store here made.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { callBerth, setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { runText } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'ip', 'nft'] });

const hex = (root: string): string => createHash('sha256').update(root).digest('hex').slice(0, 10);
const bridgeOf = (root: string): string => `berth${hex(root)}`;
const tableOf = (root: string): string => `berth_${hex(root)}`;

/** "a.b.c.d/n" as [base, prefix]. */
function cidr(text: string): [number, number] {
  const [address = '', prefix = ''] = text.split('/');
  return [address.split('.').reduce((n, b) => n * 256 + Number(b), 0), Number(prefix)];
}

function overlap(a: string, b: string): boolean {
  const [x, p] = cidr(a);
  const [y, q] = cidr(b);
  const size = 2 ** (32 - Math.min(p, q));
  return Math.floor(x / size) === Math.floor(y / size);
}

describe.skipIf(skip !== undefined)('stores side by side', () => {
  let h: ContainerHarness;
  /** Stores with no network settings, made by the tests. */
  const roots: string[] = [];
  let busy = '';
  const hadBerth0 = existsSync('/sys/class/net/berth0');

  const store = async (name: string, config?: Record<string, unknown>): Promise<string> => {
    const root = join(h.work, name);
    roots.push(root);
    await mkdir(root, { recursive: true });
    if (config !== undefined) await writeFile(join(root, 'config.json'), JSON.stringify(config));
    const pulled = await callBerth(root, ['pull', h.remoteImage]);
    if (pulled.code !== 0) throw new Error(`pull into ${root} exited ${pulled.code}: ${pulled.stderr}`);
    return root;
  };
  const ok = async (root: string, args: readonly string[]): Promise<string> => {
    const r = await callBerth(root, args);
    if (r.code !== 0) throw new Error(`berth --root ${root} ${args.join(' ')} exited ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
    return r.stdout;
  };
  const defaultNetwork = async (root: string): Promise<{ bridge: string; subnet: string; gateway: string }> => {
    const doc = (JSON.parse(await ok(root, ['network', 'inspect', 'bridge'])) as Record<string, unknown>[])[0] ?? {};
    const config = ((doc['IPAM'] as { Config?: { Subnet: string; Gateway: string }[] }).Config ?? [])[0];
    const options = doc['Options'] as Record<string, string>;
    return { bridge: options['com.docker.network.bridge.name'] ?? '', subnet: config?.Subnet ?? '', gateway: config?.Gateway ?? '' };
  };
  const ifalias = (bridge: string): Promise<string> => readFile(`/sys/class/net/${bridge}/ifalias`, 'utf8').then((t) => t.trim(), () => '');
  const table = (name: string): Promise<string> => runText('nft', ['list', 'table', 'ip', name]).catch(() => '');

  beforeAll(async () => {
    h = await setUpContainers('net-stores');
    // The other store in use: its default network up, with a container on it.
    busy = await h.runDetached([], ['sleep', '600']);
  }, 120_000);

  afterAll(async () => {
    for (const root of roots) {
      if (existsSync(join(root, 'berth.db'))) {
        const ids = (await callBerth(root, ['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter((l) => l !== '');
        if (ids.length > 0) await callBerth(root, ['rm', '-f', ...ids]);
      }
      await runText('ip', ['link', 'del', bridgeOf(root)]).catch(() => undefined);
      await runText('nft', ['delete', 'table', 'ip', tableOf(root)]).catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    }
    // A berth0 that was not there before is one that a store here took (berth before issue 11 did).
    const alias = await ifalias('berth0');
    if (!hadBerth0 && existsSync('/sys/class/net/berth0') && (alias === '' || roots.some((r) => alias === `berth store ${r}`))) {
      await runText('ip', ['link', 'del', 'berth0']).catch(() => undefined);
    }
    if (busy !== '') await h?.removeQuietly(busy);
    await h?.cleanup();
  }, 60_000);

  it('gives a store without network settings its own bridge and a free subnet, beside another store in use, and keeps them', async () => {
    const a = await store('a');
    const run = await callBerth(a, ['run', '--rm', h.remoteImage, 'ip', '-4', '-o', 'addr', 'show', 'dev', 'eth0']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const net = await defaultNetwork(a);
    expect(net.bridge).toBe(bridgeOf(a));
    expect(net.subnet).toMatch(/^10\.(79|8\d|9[0-5])\.0\.0\/16$/);
    expect(overlap(net.subnet, '10.77.0.0/16')).toBe(false);
    expect(overlap(net.subnet, h.network.subnet)).toBe(false);
    expect(net.gateway).toBe(net.subnet.replace(/0\/16$/, '1'));
    expect(run.stdout).toContain(`inet ${net.subnet.replace(/0\.0\/16$/, '0.2')}/16`);
    // berth's, and this store's: the bridge's ifalias and the table's guard rule say so.
    expect(await ifalias(net.bridge)).toBe(`berth store ${a}`);
    expect(await table(tableOf(a))).toContain(`comment "berth store ${a}"`);
    expect(await runText('ip', ['-4', 'route', 'show', net.subnet])).toContain(`dev ${net.bridge}`);

    // A second such store takes the next free subnet; the first keeps its own across runs.
    const b = await store('b');
    expect((await callBerth(b, ['run', '--rm', h.remoteImage, 'true'])).code).toBe(0);
    const other = await defaultNetwork(b);
    expect(other.bridge).toBe(bridgeOf(b));
    expect(overlap(other.subnet, net.subnet)).toBe(false);
    expect((await callBerth(a, ['run', '--rm', h.remoteImage, 'true'])).code).toBe(0);
    expect(await defaultNetwork(a)).toEqual(net);
  }, 120_000);

  it('still refuses a "bip" of the configuration that overlaps another store\'s bridge, saying which', async () => {
    const a = roots[0] ?? '';
    const net = await defaultNetwork(a);
    const c = await store('c', { bip: `${net.subnet.replace(/0\.0\/16$/, '200.1')}/24` });
    const r = await callBerth(c, ['run', '--rm', h.remoteImage, 'true']);
    expect(r.code).toBe(125);
    expect(r.stderr).toContain(`Subnet ${net.subnet.replace(/0\.0\/16$/, '200.0')}/24 of network bridge overlaps the host's route to ${net.subnet} on ${net.bridge}`);
    expect(r.stderr).toContain('Set another "bip" in berth\'s config.json');
  }, 60_000);

  it('recognises the bridge and table of a deleted store as berth\'s, and system prune of another store reclaims them once idle', async () => {
    const gone = await store('gone');
    const next = await store('next');
    const pruner = roots[0] ?? '';
    expect((await callBerth(gone, ['run', '--rm', h.remoteImage, 'true'])).code).toBe(0);
    const left = await defaultNetwork(gone);
    // A port on the bridge stands for a container of the removed store that still runs:
    // nothing of that store is reclaimed meanwhile (by this prune or a parallel test's).
    const port = h.network.outsideName('d');
    await runText('ip', ['link', 'add', port, 'type', 'veth', 'peer', 'name', h.network.outsideName('e')]);
    try {
      await runText('ip', ['link', 'set', port, 'master', left.bridge]);
      await rm(gone, { recursive: true, force: true });
      expect(await ifalias(left.bridge)).toBe(`berth store ${gone}`);
      expect(await table(tableOf(gone))).toContain(`comment "berth store ${gone}"`);
      expect(await ok(pruner, ['system', 'prune', '-f'])).not.toContain(`removed store ${gone}`);
      expect(existsSync(`/sys/class/net/${left.bridge}`)).toBe(true);
      expect(await table(tableOf(gone))).not.toBe('');

      // What it left does not stop a new store.
      expect((await callBerth(next, ['run', '--rm', h.remoteImage, 'true'])).code).toBe(0);
      expect(overlap((await defaultNetwork(next)).subnet, left.subnet)).toBe(false);
    } finally {
      await runText('ip', ['link', 'del', port]).catch(() => undefined);
    }

    const pruned = await ok(pruner, ['system', 'prune', '-f']);
    expect(pruned).toContain(`bridge ${left.bridge} of removed store ${gone}\n`);
    expect(pruned).toContain(`nftables table ip ${tableOf(gone)} of removed store ${gone}\n`);
    expect(existsSync(`/sys/class/net/${left.bridge}`)).toBe(false);
    expect(await table(tableOf(gone))).toBe('');
    expect(await runText('ip', ['-4', 'route', 'show', left.subnet])).toBe('');

    // Live stores keep theirs: the one in use (a container on it), those made here, and the pruning one.
    expect(existsSync(`/sys/class/net/${h.network.bridge}`)).toBe(true);
    expect(await table(h.network.table)).not.toBe('');
    // (c's "bip" was refused above: it has no network.)
    for (const root of roots.filter((r) => r !== gone && !r.endsWith('/c'))) {
      const { bridge } = await defaultNetwork(root);
      expect(existsSync(`/sys/class/net/${bridge}`)).toBe(true);
      expect(await table(tableOf(root))).not.toBe('');
    }
    expect(await ok(pruner, ['system', 'prune', '-f'])).not.toContain('removed store');
  }, 120_000);
});
