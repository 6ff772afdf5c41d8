/**
 * What removed stores left on the host: bridges and nftables tables that carry berth's
 * mark (stores.ts) naming a store whose database is gone (`rm -rf` of a `--root`).
 * `system prune` of any store reclaims them. Never touched: anything without berth's mark
 * (the host's own, or made by a berth from before marks), a mark that names no root, a live
 * store's, and every bridge and table of a removed store while a port is still on one of
 * its bridges (a container of it still runs).
 */
import { spawnSync } from 'node:child_process';
import { isErrnoError, NetworkError, UnsupportedError } from '../common/errors.js';
import { applyScript } from './nft.js';
import { removeBridge } from './netlink.js';
import { hostBridge, hostBridges, isStoreGone, parseStoreMark } from './stores.js';

/** A bridge or table of berth's as found on the host. */
export interface MarkedThing {
  readonly name: string;
  /** The store root its mark names (undefined: berth's, but no root). */
  readonly root: string | undefined;
  /** Bridges: a port (a container's veth) is on it. */
  readonly busy?: boolean | undefined;
}

/** What to reclaim, by removed store. */
export interface Leftovers {
  readonly bridges: readonly { readonly name: string; readonly root: string }[];
  readonly tables: readonly { readonly name: string; readonly root: string }[];
}

/**
 * Chooses what to reclaim: things of stores that `isGone` says are removed, other than
 * `ownRoot`, none of whose bridges is busy. Pure.
 */
export function chooseLeftovers(found: { bridges: readonly MarkedThing[]; tables: readonly MarkedThing[] }, ownRoot: string, isGone: (root: string) => boolean): Leftovers {
  const roots = new Set<string>();
  for (const t of [...found.bridges, ...found.tables]) if (t.root !== undefined && t.root !== ownRoot) roots.add(t.root);
  const gone = new Set([...roots].filter((r) => isGone(r) && !found.bridges.some((b) => b.root === r && b.busy === true)));
  const pick = (things: readonly MarkedThing[]): { name: string; root: string }[] =>
    things.flatMap((t) => (t.root !== undefined && gone.has(t.root) ? [{ name: t.name, root: t.root }] : []));
  return { bridges: pick(found.bridges), tables: pick(found.tables) };
}

/** Names of berth's tables (`berth`, `berth_<10 hex>`) of family ip in `nft -j list tables` output. */
export function parseTableNames(json: string): string[] {
  return nftItems(json).flatMap((item) => {
    const t = item['table'] as { family?: unknown; name?: unknown } | undefined;
    return t?.family === 'ip' && typeof t.name === 'string' && /^berth(_[0-9a-f]{10})?$/.test(t.name) ? [t.name] : [];
  });
}

/** The store mark in `nft -j list chain ip TABLE guard` output (a rule's comment), if any. */
export function parseTableMark(json: string): { readonly root: string | undefined } | undefined {
  for (const item of nftItems(json)) {
    const comment = (item['rule'] as { comment?: unknown } | undefined)?.comment;
    const mark = typeof comment === 'string' ? parseStoreMark(comment) : undefined;
    if (mark !== undefined) return mark;
  }
  return undefined;
}

function nftItems(json: string): Record<string, unknown>[] {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch (err) {
    throw new NetworkError('Cannot read the host\'s nftables tables: nft printed no JSON', { cause: err });
  }
  const list = (doc as { nftables?: unknown } | null)?.nftables;
  return Array.isArray(list) ? list.filter((i): i is Record<string, unknown> => i !== null && typeof i === 'object') : [];
}

/** Runs nft; undefined when the host has no nft (and so no table of berth's). */
function nft(args: readonly string[]): { ok: boolean; stdout: string; stderr: string } | undefined {
  const r = spawnSync('nft', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  if (isErrnoError(r.error, 'ENOENT')) return undefined;
  if (r.error !== undefined) throw new UnsupportedError(`Cannot run nft: ${r.error.message}`, { hint: 'Install nftables ("apt-get install nftables")' });
  return { ok: r.status === 0, stdout: r.stdout, stderr: r.stderr };
}

/** berth's marked bridges and tables on the host. */
export function findMarked(): { bridges: MarkedThing[]; tables: MarkedThing[] } {
  const bridges = hostBridges().flatMap((name) => {
    const b = hostBridge(name);
    const mark = b.kind === 'bridge' ? parseStoreMark(b.mark) : undefined;
    return b.kind === 'bridge' && mark !== undefined ? [{ name, root: mark.root, busy: b.busy }] : [];
  });
  const list = nft(['-j', 'list', 'tables']);
  if (list === undefined) return { bridges, tables: [] };
  if (!list.ok) throw new NetworkError(`Cannot list the host's nftables tables: ${list.stderr.trim()}`, { hint: 'berth needs root and nf_tables ("nft list ruleset" should work)' });
  const tables = parseTableNames(list.stdout).flatMap((name) => {
    // A table without a guard chain (gone meanwhile, or not berth's) has no mark.
    const chain = nft(['-j', 'list', 'chain', 'ip', name, 'guard']);
    const mark = chain?.ok === true ? parseTableMark(chain.stdout) : undefined;
    return mark === undefined ? [] : [{ name, root: mark.root }];
  });
  return { bridges, tables };
}

/**
 * Removes the bridges and tables of removed stores (see the module comment); returns
 * what it removed, as lines for `system prune`.
 */
export function reclaimLeftovers(program: () => string, ownRoot: string): string[] {
  const { bridges, tables } = chooseLeftovers(findMarked(), ownRoot, isStoreGone);
  const done: string[] = [];
  for (const t of tables) {
    applyScript(`table ip ${t.name} {}\ndelete table ip ${t.name}\n`);
    done.push(`nftables table ip ${t.name} of removed store ${t.root}`);
  }
  for (const b of bridges) {
    removeBridge(program(), b.name);
    done.push(`bridge ${b.name} of removed store ${b.root}`);
  }
  return done;
}
