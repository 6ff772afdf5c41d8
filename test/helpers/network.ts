/**
 * Network isolation between test files. Every store a test makes gets a configuration
 * (`<root>/config.json`) whose default bridge, subnet and address pool belong to it alone:
 * a /19 block of 10.0.0.0/8 chosen from vitest's worker id (unique among the files running
 * at once) and a per-process counter: the default network's /24 at its start, then eight
 * /24s for networks the test creates, eight for berth's pool, and one for what the test
 * makes outside berth. {@link NetworkSandbox.cleanup} removes what the store
 * made on the host: its user networks, its default bridge, its nftables table and its DNS
 * responder. Leftovers of an earlier run that died in the same block are removed first.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { berth } from './berth.js';
import { runText } from './exec.js';

export interface NetworkSandbox {
  /** The default network's bridge. */
  readonly bridge: string;
  /** The default network's subnet (a /24) and gateway. */
  readonly subnet: string;
  readonly gateway: string;
  /** A /21 of subnets for networks the test creates with --subnet (8 × /24: `userSubnet(i)`). */
  userSubnet(i: number): string;
  /** A /24 for what the test makes itself outside berth (a neighbour "host" on its own bridge). */
  readonly outsideSubnet: string;
  /** A name for a bridge or netns the test makes itself (at most 15 characters). */
  outsideName(suffix: string): string;
  /** berth's nftables table for the store. */
  readonly table: string;
  /** Removes the store's networks, bridge, nftables table and DNS responder. */
  cleanup(): Promise<void>;
}

let counter = 0;

/**
 * Where this process's blocks start: 10.<second>.0.0, from the vitest worker id (or the pid).
 * BERTH_TEST_NET_BASE (default 120) moves the range, so that two checkouts' suites running
 * at once (worktrees) keep apart; each takes 20 second octets.
 */
function secondOctet(): number {
  const base = Number(process.env['BERTH_TEST_NET_BASE'] ?? 120);
  if (!Number.isInteger(base) || base < 20 || base > 235) throw new Error(`BERTH_TEST_NET_BASE must be an integer from 20 to 235, not "${String(process.env['BERTH_TEST_NET_BASE'])}"`);
  const worker = Number(process.env['VITEST_POOL_ID'] ?? process.env['VITEST_WORKER_ID'] ?? Number.NaN);
  return base + (Number.isInteger(worker) ? worker % 20 : process.pid % 20);
}

/** Writes the sandbox configuration into `root` (merged with what is there) and clears old leftovers. */
export async function isolateNetworks(root: string): Promise<NetworkSandbox> {
  const n = counter++ % 8;
  const second = secondOctet();
  const third = n * 32;
  const bridge = `bt${second}n${n}`;
  const subnet = `10.${second}.${third}.0/24`;
  const gateway = `10.${second}.${third}.1`;
  const table = `berth_${createHash('sha256').update(root).digest('hex').slice(0, 10)}`;
  await removeLeftovers(second, third, bridge);
  await mkdir(root, { recursive: true });
  const file = join(root, 'config.json');
  const existing = existsSync(file) ? JSON.parse(await readFile(file, 'utf8')) as Record<string, unknown> : {};
  const config = { ...existing, bridge, bip: `${gateway}/24`, 'default-address-pools': [{ base: `10.${second}.${third + 16}.0/21`, size: 24 }] };
  await writeFile(file, `${JSON.stringify(config, null, 2)}\n`);
  return {
    bridge, subnet, gateway, table,
    userSubnet: (i: number) => `10.${second}.${third + 8 + (i % 8)}.0/24`,
    outsideSubnet: `10.${second}.${third + 24}.0/24`,
    outsideName: (suffix: string) => `bt${second}n${n}${suffix}`.slice(0, 15),
    async cleanup() {
      const ids = (await berth(['ps', '-a', '-q', '--no-trunc'], { root })).stdout.split('\n').filter((l) => l !== '');
      if (ids.length > 0) await berth(['rm', '-f', ...ids], { root });
      await berth(['network', 'prune', '-f'], { root });
      const pid = await readFile(join(root, 'dns.pid'), 'utf8').then((t) => Number(t.split(' ')[0]), () => 0);
      if (pid > 0) {
        try {
          process.kill(pid, 'SIGTERM');
        } catch {
          // gone already
        }
      }
      await runText('ip', ['link', 'del', bridge]).catch(() => undefined);
      await runText('nft', ['delete', 'table', 'ip', table]).catch(() => undefined);
    },
  };
}

/** Interfaces holding an address of this block (a run that died before its cleanup), and the bridge. */
async function removeLeftovers(second: number, third: number, bridge: string): Promise<void> {
  const links = JSON.parse(await runText('ip', ['-j', '-4', 'addr', 'show'])) as { ifname: string; addr_info?: { local: string }[] }[];
  const inBlock = (address: string): boolean => {
    const [a, b, c] = address.split('.').map(Number);
    return a === 10 && b === second && c !== undefined && c >= third && c < third + 32;
  };
  for (const link of links) {
    const mine = (link.addr_info ?? []).some((a) => inBlock(a.local));
    if (link.ifname === bridge || (mine && /^(bt\d+n\d.*|br-[0-9a-f]{12})$/.test(link.ifname))) {
      await runText('ip', ['link', 'del', link.ifname]).catch(() => undefined);
    }
  }
}
