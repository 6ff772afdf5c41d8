/**
 * The store's default network "bridge": recorded on first use from the configuration
 * ("bridge", "bip") or, without "bip", with a subnet berth chooses then, once, and keeps in
 * the database (stores.ts says which: each store its own bridge, the default store
 * 10.77.0.0/16 while free, any other the first free /16 from 10.79.0.0/16).
 *
 * A chosen subnet stays while its bridge holds it or no route of the host overlaps it; a
 * changed configuration, or a chosen subnet that another interface has taken since (a
 * store that chose it while this one's bridge was not made yet, or after a reboot), is
 * taken up once no container is on the network. The manager makes the bridge with the
 * network's first lease, so that the host's route claims the subnet.
 */
import { randomBytes } from 'node:crypto';
import { resolve } from 'node:path';
import { FailedPreconditionError } from '../common/errors.js';
import type { MetadataDb } from '../common/metadata.js';
import type { StateLayout } from '../common/paths.js';
import { chooseSubnet, formatIpv4, overlaps, parseInterfaceAddress, parseSubnet, subnetString, type Subnet } from './ipam.js';
import type { NetworkRecords, NetworkRecord } from './records.js';
import { defaultStoreSubnet, hostBridge, hostRoutes, isDefaultStore, parseStoreMark, storeBridgeName, storeMark, storePools } from './stores.js';

/** The default network's name, as docker's. */
export const defaultNetworkName = 'bridge';

/** What the configuration asks of the default network. */
interface Wanted {
  readonly bridge: string;
  /** The configuration's "bip"; undefined: berth chooses the subnet. */
  readonly bip: { readonly address: number; readonly subnet: Subnet } | undefined;
  /** The subnet berth tries first when it chooses (the default store's 10.77.0.0/16). */
  readonly preferred: Subnet | undefined;
}

export interface DefaultNetworkDeps {
  readonly db: MetadataDb;
  readonly records: NetworkRecords;
  readonly layout: StateLayout;
  readonly config: { readonly bridge?: string | undefined; readonly bip?: string | undefined };
  /** Refuses a subnet that overlaps another network or a route of the host not on the `own` bridges (the manager's check). */
  readonly checkSubnet: (subnet: Subnet, own: readonly string[]) => void;
  /** Deletes a bridge (netlink.ts removeBridge). */
  readonly removeBridge: (name: string) => void;
}

/** The default network of one store. */
export class DefaultNetwork {
  readonly #deps: DefaultNetworkDeps;

  constructor(deps: DefaultNetworkDeps) {
    this.#deps = deps;
  }

  /** The store's root, absolute: what its marks name. */
  get root(): string {
    return resolve(this.#deps.layout.root);
  }

  /** The bridge the configuration or berth gives the default network. */
  get bridge(): string {
    return this.#deps.config.bridge ?? storeBridgeName(this.#deps.layout.root);
  }

  /** Whether berth chooses the subnet (no "bip"). */
  get chosen(): boolean {
    return this.#deps.config.bip === undefined;
  }

  /** The recorded network, recorded now when missing or no longer what is wanted (see the module comment). */
  record(): NetworkRecord {
    const want = this.#wanted();
    const { records } = this.#deps;
    const existing = records.byName(defaultNetworkName);
    if (existing !== undefined && this.#keeps(existing, want)) return existing;
    const made = this.#deps.db.transaction(() => {
      const now = records.byName(defaultNetworkName);
      if (now !== undefined && (this.#keeps(now, want) || records.endpoints(now.id).length > 0)) return { record: now, replaced: undefined, fresh: false };
      if (now !== undefined) records.delete(now.id);
      const { subnet, gateway } = this.#subnet(want, now?.bridge);
      const record: NetworkRecord = {
        id: randomBytes(32).toString('hex'), name: defaultNetworkName, driver: 'bridge', bridge: want.bridge, subnet: subnetString(subnet), gateway: formatIpv4(gateway),
        internal: false, dns: false, mtu: 0, created: new Date().toISOString(), labels: {},
      };
      records.insert(record);
      return { record, replaced: now, fresh: true };
    });
    // An idle bridge of this store's by the old or the new name may hold another address
    // (the old subnet, or that of a removed store at this root): it is made anew at first use.
    if (made.fresh) for (const name of new Set([made.replaced?.bridge, made.record.bridge])) if (name !== undefined) this.#removeIdle(name);
    return made.record;
  }

  #wanted(): Wanted {
    const { layout, config } = this.#deps;
    return {
      bridge: this.bridge,
      bip: config.bip === undefined ? undefined : parseInterfaceAddress(config.bip, 'configuration "bip"'),
      preferred: isDefaultStore(layout.root) ? defaultStoreSubnet : undefined,
    };
  }

  #keeps(n: NetworkRecord, want: Wanted): boolean {
    if (n.bridge !== want.bridge) return false;
    if (want.bip !== undefined) return n.subnet === subnetString(want.bip.subnet) && n.gateway === formatIpv4(want.bip.address);
    if (hostBridge(n.bridge).kind !== 'absent') return true;
    const subnet = parseSubnet(n.subnet);
    return !hostRoutes().some((r) => overlaps(r.subnet, subnet));
  }

  /** The configuration's "bip" if it is free (else the error says what overlaps), or berth's choice. */
  #subnet(want: Wanted, oldBridge: string | undefined): { subnet: Subnet; gateway: number } {
    const own = this.#own([oldBridge, want.bridge]);
    if (want.bip !== undefined) {
      this.#deps.checkSubnet(want.bip.subnet, own);
      return { subnet: want.bip.subnet, gateway: want.bip.address };
    }
    const taken = [...this.#deps.records.list().map((n) => parseSubnet(n.subnet)), ...hostRoutes().filter((r) => !own.includes(r.iface)).map((r) => r.subnet)];
    const subnet = chooseSubnet(want.preferred, storePools, taken);
    if (subnet === undefined) {
      throw new FailedPreconditionError(`No free subnet is left for the default network of store "${this.root}" (10.79.0.0/16 to 10.95.0.0/16 are taken)`, {
        hint: `Reclaim the bridges of removed stores with "berth system prune", or set "bip" in ${this.#deps.layout.configFile()}`,
      });
    }
    return { subnet, gateway: subnet.base + 1 };
  }

  /** Of these bridges, those whose routes are this store's: bridges it marked, or unmarked ones (made before marks). */
  #own(names: readonly (string | undefined)[]): string[] {
    const mine = storeMark(this.root);
    return names.flatMap((name) => {
      if (name === undefined) return [];
      const b = hostBridge(name);
      return b.kind === 'bridge' && (b.mark === mine || parseStoreMark(b.mark) === undefined) ? [name] : [];
    });
  }

  /** Removes a bridge that this store marked, when no port is on it. */
  #removeIdle(name: string): void {
    const b = hostBridge(name);
    if (b.kind === 'bridge' && !b.busy && b.mark === storeMark(this.root)) this.#deps.removeBridge(name);
  }
}
