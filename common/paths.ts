/**
 * The on-disk layout of a berth store. This module alone builds paths under the store
 * (STYLE.md §4); everything else asks a {@link StateLayout}.
 *
 * ```
 * <root>/                      /var/lib/berth by default (--root, BERTH_ROOT)
 *   berth.db                   metadata (SQLite, WAL)
 *   blobs/sha256/<hex>         content-addressed blobs: whole and verified when present
 *   layers/<hex>/diff/         one unpacked layer per diffID (sha256): an overlayfs lower
 *   tmp/<pid>-<random>[...]    staging for blobs and layers; renamed into place when
 *                              complete, removed by the next command once <pid> is gone
 *   config.json                berth's own configuration (insecure registries, limits)
 *   volumes/<name>/_data/      a volume's data (docker's local driver layout)
 *   containers/<id>/           one container: config.json (OCI), rootfs/ (mount point),
 *                              upper/ and work/ (its overlay layer), <id>-json.log, hosts,
 *                              hostname, resolv.conf, and the monitor's exit.json, attach
 *                              and ctl sockets and exec.fifo
 *   dns.pid                    "pid start-time" of the store's DNS responder (network/)
 * <runRoot>/                   /run/berth by default: runtime state (containers)
 *   netns/<id>                 a container's network namespace, bind-mounted (netns/ is a
 *                              shared mount point, as iproute2 makes /run/netns)
 * ```
 */
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import { digestAlgorithm, digestHex, type Digest } from '../oci/index.js';

/** Default store root. */
export const defaultRoot = '/var/lib/berth';
/** Default runtime-state root. */
export const defaultRunRoot = '/run/berth';

/** Paths of one berth store. */
export class StateLayout {
  /** Absolute store root. */
  readonly root: string;
  /** Absolute runtime-state root. */
  readonly runRoot: string;

  constructor(root: string = defaultRoot, runRoot: string = defaultRunRoot) {
    this.root = root;
    this.runRoot = runRoot;
  }

  /** The metadata database file. */
  database(): string {
    return join(this.root, 'berth.db');
  }

  /** berth's configuration file in this store. */
  configFile(): string {
    return join(this.root, 'config.json');
  }

  /** Directory of blobs of one algorithm. */
  blobDir(algorithm: string): string {
    return join(this.root, 'blobs', algorithm);
  }

  /** Where the blob with this (validated) digest lives. */
  blobPath(digest: Digest): string {
    return join(this.root, 'blobs', digestAlgorithm(digest), digestHex(digest));
  }

  /** Parent of every layer directory. */
  layersDir(): string {
    return join(this.root, 'layers');
  }

  /** The directory of the layer with this diffID; it exists only once the layer is complete. */
  layerDir(diffId: Digest): string {
    return join(this.root, 'layers', digestHex(diffId));
  }

  /** The unpacked tree of a layer inside {@link layerDir}: the overlayfs lower. */
  layerDiffDir(diffId: Digest): string {
    return join(this.layerDir(diffId), 'diff');
  }

  /** All containers' directories. */
  containersDir(): string {
    return join(this.root, 'containers');
  }

  /** One container's directory (`id` is berth's 64-hex id). */
  containerDir(id: string): string {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new RangeError(`Not a container id: ${id}`);
    return join(this.root, 'containers', id);
  }

  /** All volumes. */
  volumesDir(): string {
    return join(this.root, 'volumes');
  }

  /** A volume's directory; its data is in `_data` below it, as docker's local driver keeps it. */
  volumeDir(name: string): string {
    if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(name)) throw new RangeError(`Not a volume name: ${name}`);
    return join(this.root, 'volumes', name);
  }

  /** Where container `id`'s network namespace is bind-mounted while its network is set up. */
  netnsPath(id: string): string {
    if (!/^[0-9a-f]{64}$/.test(id)) throw new RangeError(`Not a container id: ${id}`);
    return join(this.runRoot, 'netns', id);
  }

  /** The network namespaces' directory (a shared mount point, as iproute2 makes /run/netns). */
  netnsDir(): string {
    return join(this.runRoot, 'netns');
  }

  /** The DNS responder's pid file (one responder per store, for its user networks). */
  dnsPidFile(): string {
    return join(this.root, 'dns.pid');
  }

  /** Staging directory; same filesystem as blobs and layers so renames are atomic. */
  tmpDir(): string {
    return join(this.root, 'tmp');
  }

  /**
   * A fresh staging path owned by this process. The `<pid>-` prefix lets a later command
   * tell leftovers of dead processes from work in progress (see store recovery).
   */
  newTmpPath(label: string): string {
    return join(this.root, 'tmp', `${process.pid}-${randomBytes(6).toString('hex')}-${label}`);
  }
}

/** The pid encoded in a staging entry's name, or undefined when the name is not one of ours. */
export function tmpEntryOwner(name: string): number | undefined {
  const m = /^(\d+)-[0-9a-f]{12}-/.exec(name);
  return m?.[1] === undefined ? undefined : Number(m[1]);
}
