/**
 * What every operation of the engine (runtime/ops/*.ts) works with: the store, the records,
 * the snapshotter, the backends, networks and volumes of one engine, built once by
 * engine.ts. Operations are functions of this context and plain data; the context holds no
 * container's state, the database does.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Backend, TaskRef } from '../../common/backend.js';
import { NotFoundError } from '../../common/errors.js';
import type { MetadataDb } from '../../common/metadata.js';
import type { StateLayout } from '../../common/paths.js';
import type { ImageRecord, Snapshotter } from '../../image/index.js';
import type { NetworkManager } from '../../network/index.js';
import type { ImageConfig, RuntimeSpec } from '../../oci/index.js';
import { BerthBackend } from '../backends/berth-backend.js';
import { readExit } from '../backends/monitored.js';
import { OciRuntimeBackend } from '../backends/oci-backend.js';
import type { CgroupProvider } from '../cgroups.js';
import type { ContainerNetworks } from '../container-network.js';
import type { ContainerRecord, ContainerRecords } from '../containers.js';
import { findNativePrograms, type NativePrograms } from '../native.js';
import { containerView, type ContainerView } from '../state.js';
import type { VolumeStore } from '../volumes.js';

export type PullPolicy = 'missing' | 'always' | 'never';

/** What the engine is built from. */
export interface EngineDeps {
  readonly layout: StateLayout;
  readonly db: MetadataDb;
  readonly cgroups: CgroupProvider;
  /** The image named `ref`, pulled when `policy` says so. */
  readonly resolveImage: (ref: string, policy: PullPolicy) => Promise<ImageRecord>;
  readonly readImageConfig: (image: ImageRecord) => Promise<ImageConfig>;
  /** argv that runs berth itself with this store (for the monitor's exit command). */
  readonly berthCommand: readonly string[];
  readonly native?: NativePrograms | undefined;
  /** Networks (network/); without it only --network none and host work. */
  readonly network?: (() => Promise<NetworkManager>) | undefined;
  /**
   * Where problems go that do not stop an operation (a cleanup step that failed): the CLI
   * prints them as warnings, the API server returns them. Default: stderr.
   */
  readonly onWarning?: ((message: string) => void) | undefined;
}

/** The engine's parts, shared by the operations. */
export class EngineContext {
  readonly deps: EngineDeps;
  readonly records: ContainerRecords;
  readonly volumes: VolumeStore;
  readonly net: ContainerNetworks;
  readonly snapshots: Snapshotter;
  readonly #backends = new Map<string, Backend>();
  #native: NativePrograms | undefined;

  constructor(deps: EngineDeps, parts: { records: ContainerRecords; volumes: VolumeStore; net: ContainerNetworks; snapshots: Snapshotter }) {
    this.deps = deps;
    this.records = parts.records;
    this.volumes = parts.volumes;
    this.net = parts.net;
    this.snapshots = parts.snapshots;
    this.#native = deps.native;
  }

  /** berth's native programs, looked up on first use. */
  programs(): NativePrograms {
    this.#native ??= findNativePrograms();
    return this.#native;
  }

  /** Reports a problem that did not stop the operation. */
  warn(message: string): void {
    if (this.deps.onWarning !== undefined) this.deps.onWarning(message);
    else process.stderr.write(`WARNING: ${message}\n`);
  }

  /**
   * The backend a container's record names: "berth", or another OCI runtime (runc, crun,
   * a path). The one place that tells them apart.
   */
  backend(name: string): Backend {
    let backend = this.#backends.get(name);
    if (backend === undefined) {
      const monitored = { cgroups: this.deps.cgroups, programs: () => this.programs() };
      backend = name === 'berth' ? new BerthBackend(monitored) : new OciRuntimeBackend(name, { ...monitored, stateRoot: join(this.deps.layout.root, 'runtimes') });
      this.#backends.set(name, backend);
    }
    return backend;
  }

  /** The backend of a recorded container. */
  backendOf(record: ContainerRecord): Backend {
    return this.backend(record.config.runtime);
  }

  /** What the backends get of a recorded container. */
  task(record: ContainerRecord): TaskRef {
    return {
      id: record.id, dir: this.dir(record.id), pid: record.pid, pidStart: record.pidStart, monitorPid: record.monitorPid,
      ...(record.config.cgroupParent === undefined ? {} : { cgroupParent: record.config.cgroupParent }),
    };
  }

  /** The container's directory. */
  dir(id: string): string {
    return this.deps.layout.containerDir(id);
  }

  /** The json-file log of a container. */
  logPath(id: string): string {
    return join(this.dir(id), `${id}-json.log`);
  }

  /** Works out the live status from the record, exit.json and the processes. */
  view(record: ContainerRecord): ContainerView {
    return containerView(record, () => readExit(this.dir(record.id)));
  }

  /** Finds a container by name, id or id prefix, with its live status. */
  find(input: string): ContainerView {
    return this.view(this.records.find(input));
  }

  /** The view of container `id` as it is now; NotFound once it is gone. */
  now(id: string, input = id): ContainerView {
    const record = this.records.byId(id);
    if (record === undefined) throw new NotFoundError(`No such container: ${input}`);
    return this.view(record);
  }

  /** The container's config.json (written by create; berth's own, so not validated again). */
  async readSpec(id: string): Promise<RuntimeSpec> {
    return JSON.parse(await readFile(join(this.dir(id), 'config.json'), 'utf8')) as RuntimeSpec;
  }

  /** The layers of the container's image, bottom first. */
  async imageLayers(record: ContainerRecord): Promise<ImageRecord['layers']> {
    const image = await this.deps.resolveImage(record.imageId, 'never').catch((err: unknown) => {
      throw new NotFoundError(`The image of container ${record.name} (${record.imageId}) is gone`, { cause: err });
    });
    return image.layers;
  }

  /** Removes the anonymous volumes of a container that is gone (rm -v, --rm). */
  async removeAnonymousVolumes(record: ContainerRecord): Promise<void> {
    const users = this.volumeUsers();
    for (const m of record.config.mounts) {
      if (m.type !== 'volume') continue;
      const v = this.volumes.get(m.name);
      if (v?.anonymous === true && (users.get(m.name) ?? []).length === 0) await this.volumes.remove(m.name, []);
    }
  }

  /** Names of the containers that mount each volume. */
  volumeUsers(): Map<string, string[]> {
    const users = new Map<string, string[]>();
    for (const r of this.records.list()) {
      for (const m of r.config.mounts) {
        if (m.type === 'volume') users.set(m.name, [...(users.get(m.name) ?? []), r.name]);
      }
    }
    return users;
  }
}

/** The message of an error, for a warning. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
