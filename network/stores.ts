/**
 * Stores side by side on one host: what each one's default network is called and where
 * its subnet comes from, and the mark that tells berth's bridges and nftables tables
 * apart from the host's own and names the store (`--root`) that made them.
 *
 * Decided (issue 11), as docker's default bridge takes the first free pool when `bip` is
 * not set: every store has a bridge of its own (a bridge shared by two stores would have
 * two IPAMs handing out the same addresses). The default store (/var/lib/berth) keeps
 * `berth0` and 10.77.0.0/16 while that subnet is free; any other store gets
 * `berth<10 hex digits of sha256(root)>` (the same digits as its table `berth_<hex>`,
 * nft.ts tableName) and the first free /16 of 10.79.0.0/16 to 10.95.0.0/16, never
 * 10.77.0.0/16 (which the default store may take later) nor the user networks' pool
 * 10.78.0.0/16. The subnet is chosen once, when the default network is recorded, and
 * stays in the database.
 *
 * The mark is `berth store <root>`: the bridge's ifalias (sysfs) and the comment of the
 * table's guard rule (rule comments are older than nft's table comments and are in
 * `nft -j` output). The root is percent-encoded where it has characters other than
 * `A-Za-z0-9/._~+,@=:-`, so that the mark is one plain token; a root too long for a
 * comment (128 bytes) is left out, and such a mark is berth's but no store's (never
 * reclaimed).
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { defaultRoot, StateLayout } from '../common/paths.js';
import { parseRouteTable, type AddressPool, type HostRoute, type Subnet } from './ipam.js';

/** The default store's bridge, as docker's docker0. */
export const defaultStoreBridge = 'berth0';
/** The default store's default network: 10.77.0.0/16 (docker uses 172.17.0.0/16, podman 10.88.0.0/16). */
export const defaultStoreSubnet: Subnet = { base: 0x0a4d0000, prefix: 16 };
/** Where the default network of a store other than the default one finds its subnet: /16s of 10.79.0.0 to 10.95.255.255. */
export const storePools: readonly AddressPool[] = [
  { base: { base: 0x0a4f0000, prefix: 16 }, size: 16 }, // 10.79.0.0/16
  { base: { base: 0x0a500000, prefix: 12 }, size: 16 }, // 10.80.0.0/12: 10.80.0.0/16 to 10.95.0.0/16
];

const markPrefix = 'berth store';
/** nft's limit on a comment (NFTNL_UDATA_COMMENT_MAXLEN); ifalias takes 255. */
const markMax = 128;

/** True for the default store (/var/lib/berth): the same test as nft.ts tableName's. */
export function isDefaultStore(root: string): boolean {
  return root === defaultRoot;
}

/** The bridge of a store's default network when its configuration names none. */
export function storeBridgeName(root: string): string {
  return isDefaultStore(root) ? defaultStoreBridge : `berth${createHash('sha256').update(root).digest('hex').slice(0, 10)}`;
}

function encodeRoot(root: string): string {
  return [...Buffer.from(root, 'utf8')].map((b) => {
    const c = String.fromCharCode(b);
    return /[A-Za-z0-9/._~+,@=:-]/.test(c) ? c : `%${b.toString(16).toUpperCase().padStart(2, '0')}`;
  }).join('');
}

/** The mark of what the store at `root` makes on the host (`root` made absolute). */
export function storeMark(root: string): string {
  const mark = `${markPrefix} ${encodeRoot(resolve(root))}`;
  return mark.length <= markMax ? mark : markPrefix;
}

/**
 * Reads a mark: undefined when the text is not berth's, `{ root: undefined }` when it is
 * berth's without a root (too long to write).
 */
export function parseStoreMark(text: string): { readonly root: string | undefined } | undefined {
  const t = text.trim();
  if (t === markPrefix) return { root: undefined };
  if (!t.startsWith(`${markPrefix} /`)) return undefined;
  try {
    return { root: decodeURIComponent(t.slice(markPrefix.length + 1)) };
  } catch {
    return undefined;
  }
}

/**
 * True when the store at `root` is gone: its database is not there (the root was
 * deleted). A store's database exists before anything of it is made on the host.
 */
export function isStoreGone(root: string): boolean {
  return !existsSync(new StateLayout(root).database());
}

/** The host's interface `name` as berth sees it: absent, another kind of link, or a bridge with its mark. */
export type HostBridge =
  | { readonly kind: 'absent' }
  | { readonly kind: 'other' }
  | { readonly kind: 'bridge'; readonly mark: string; readonly busy: boolean };

/** Looks at /sys/class/net/NAME: whether it is a bridge, its ifalias, and whether ports are on it. */
export function hostBridge(name: string): HostBridge {
  const dir = `/sys/class/net/${name}`;
  if (!existsSync(dir)) return { kind: 'absent' };
  if (!isBridge(dir)) return { kind: 'other' };
  let mark = '';
  let busy = false;
  try {
    mark = readFileSync(`${dir}/ifalias`, 'utf8').trim();
    busy = readdirSync(`${dir}/brif`).length > 0;
  } catch {
    // deleted meanwhile: an unmarked, idle bridge
  }
  return { kind: 'bridge', mark, busy };
}

/**
 * Whether the link at `dir` (/sys/class/net/NAME) is a bridge. Its uevent's DEVTYPE is set
 * before the link is registered; the bridge/ attribute directory comes a moment after
 * (br_sysfs_addbr), so a bridge another berth is making right now would look like another
 * kind of link there.
 */
function isBridge(dir: string): boolean {
  try {
    return /^DEVTYPE=bridge$/m.test(readFileSync(`${dir}/uevent`, 'utf8'));
  } catch {
    return existsSync(`${dir}/bridge`);
  }
}

/** Marks a bridge as the store's (its ifalias). */
export function markBridge(name: string, root: string): void {
  writeFileSync(`/sys/class/net/${name}/ifalias`, storeMark(root));
}

/** The host's bridges (names in /sys/class/net with a bridge/ directory). */
export function hostBridges(): string[] {
  try {
    return readdirSync('/sys/class/net').filter((n) => isBridge(`/sys/class/net/${n}`));
  } catch {
    return [];
  }
}

/** The routes of the host's main table but the default route (/proc/net/route). */
export function hostRoutes(): HostRoute[] {
  try {
    return parseRouteTable(readFileSync('/proc/net/route', 'utf8'));
  } catch {
    return [];
  }
}
