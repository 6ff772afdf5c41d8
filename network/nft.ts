/**
 * berth's nftables rules: one table per store, written whole and atomically from the
 * metadata database's networks and published ports (the way netavark and docker's
 * nftables backend keep their own table), so that the rules can never drift from the
 * records: any change, or a reconcile after a crash, writes the table again in one `nft -f`
 * transaction. The host's own tables are left alone. The guard rule's comment is the
 * store's mark (stores.ts), by which `system prune` of another store knows the table of a
 * store whose root was deleted (leftovers.ts).
 *
 * What the table does, for each network's bridge (moby libnetwork's iptables rules, with
 * its userland proxy disabled, as podman/netavark do it):
 * - outbound NAT: traffic from the subnet leaving by another interface is masqueraded;
 * - published ports: DNAT of the host's local addresses (prerouting for traffic from
 *   outside and from containers, output for the host's own connections, 127.0.0.1 too);
 * - hairpin and localhost: DNATed connections from the subnet itself or from 127.0.0.0/8
 *   are masqueraded, so that replies come back through the host (the bridge needs
 *   route_localnet=1 for the 127.0.0.1 case, set by the manager);
 * - isolation: no forwarding between two berth bridges but to published ports, none at
 *   all in or out of an --internal network, and no packet from a bridge to 127.0.0.0/8
 *   (route_localnet would otherwise let a container reach the host's loopback services,
 *   CVE-2020-8558).
 */
import { spawnSync } from 'node:child_process';
import { NetworkError, UnsupportedError } from '../common/errors.js';

export interface NftNetwork {
  readonly bridge: string;
  readonly subnet: string;
  readonly internal: boolean;
}

export interface NftPort {
  readonly protocol: string;
  /** '' for every local address. */
  readonly hostIp: string;
  readonly hostPort: number;
  readonly containerIp: string;
  readonly containerPort: number;
}

/** The table's name for a store: "berth" for the default one, else one per store root. */
export function tableName(root: string, defaultRoot: string, hash: (s: string) => string): string {
  return root === defaultRoot ? 'berth' : `berth_${hash(root).slice(0, 10)}`;
}

function quote(name: string): string {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(name)) throw new RangeError(`Not an interface name: ${name}`);
  return `"${name}"`;
}

/** What berth's table holds: the store's networks and published ports, and the store's mark. */
export interface NftRules {
  readonly networks: readonly NftNetwork[];
  readonly ports: readonly NftPort[];
  /**
   * The store's mark (stores.ts storeMark), the comment of the guard chain's rule, so that
   * `system prune` of another store can tell the table of a removed store.
   */
  readonly mark?: string | undefined;
}

function comment(text: string): string {
  // A mark is one token of printable ASCII without quotes (stores.ts); anything else is a bug.
  if (!/^[\x20-\x7e]{1,128}$/.test(text) || /["\\]/.test(text)) throw new RangeError(`Not an nft comment: ${text}`);
  return `"${text}"`;
}

/**
 * The nft script that replaces table `ip <table>` by one with these networks and ports
 * (declaring it first so that the delete works when it does not exist yet). With no
 * networks, the script only deletes the table.
 */
export function rulesetScript(table: string, rules: NftRules): string {
  const { networks, ports } = rules;
  const lines = [`table ip ${table} {}`, `delete table ip ${table}`];
  if (networks.length === 0) return `${lines.join('\n')}\n`;
  const bridges = networks.map((n) => quote(n.bridge));
  const set = `{ ${bridges.join(', ')} }`;
  const dnat = ports.map((p) => {
    const daddr = p.hostIp === '' ? '' : `ip daddr ${p.hostIp} `;
    return `    ${daddr}${p.protocol} dport ${p.hostPort} dnat to ${p.containerIp}:${p.containerPort}`;
  });
  const postrouting: string[] = [];
  const forward: string[] = [];
  for (const n of networks) {
    const br = quote(n.bridge);
    postrouting.push(`    oifname ${br} ct status dnat ip saddr { 127.0.0.0/8, ${n.subnet} } masquerade`);
    if (!n.internal) postrouting.push(`    ip saddr ${n.subnet} oifname != ${br} masquerade`);
    forward.push(`    iifname ${br} oifname ${br} accept`);
  }
  for (const n of networks.filter((x) => x.internal)) {
    const br = quote(n.bridge);
    forward.push(`    iifname ${br} drop`, `    oifname ${br} drop`);
  }
  forward.push('    ct status dnat accept', `    iifname ${set} oifname ${set} drop`);
  lines.push(
    `table ip ${table} {`,
    '  chain guard {',
    '    type filter hook prerouting priority raw; policy accept;',
    `    iifname ${set} ip daddr 127.0.0.0/8 drop${rules.mark === undefined ? '' : ` comment ${comment(rules.mark)}`}`,
    '  }',
    '  chain prerouting {',
    '    type nat hook prerouting priority dstnat; policy accept;',
    '    fib daddr type local jump ports',
    '  }',
    '  chain output {',
    '    type nat hook output priority -100; policy accept;',
    '    fib daddr type local jump ports',
    '  }',
    '  chain ports {',
    ...dnat,
    '  }',
    '  chain postrouting {',
    '    type nat hook postrouting priority srcnat; policy accept;',
    ...postrouting,
    '  }',
    '  chain forward {',
    '    type filter hook forward priority filter; policy accept;',
    ...forward,
    '  }',
    '}',
  );
  return `${lines.join('\n')}\n`;
}

/** Runs an nft script in one transaction (`nft -f -`): all of it applies, or none. */
export function applyScript(script: string): void {
  const r = spawnSync('nft', ['-f', '-'], { input: script, encoding: 'utf8', stdio: ['pipe', 'ignore', 'pipe'] });
  if (r.error !== undefined) {
    throw new UnsupportedError(`Cannot run nft: ${r.error.message}`, { hint: 'Install nftables ("apt-get install nftables", scripts/setup.sh does it)' });
  }
  if (r.status !== 0) {
    throw new NetworkError(`nftables refused berth's rules: ${r.stderr.trim().split('\n').slice(0, 3).join(' ')}`, {
      hint: 'berth needs root and a kernel with nf_tables and NAT ("nft list ruleset" should work); the host\'s own tables are left alone',
    });
  }
}
