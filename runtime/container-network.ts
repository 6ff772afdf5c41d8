/**
 * The engine's side of a container's network (engine.ts delegates here): checking the
 * network flags at create, setting the network up before the container's process is made
 * and tearing it down after, connect and disconnect, and what inspect, port and ps show.
 * The plumbing is network/'s NetworkManager.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError, UnsupportedError } from '../common/errors.js';
import type { StateLayout } from '../common/paths.js';
import type { Attachment, NetworkManager, PublishedPort } from '../network/index.js';
import type { ImageConfig } from '../oci/index.js';
import type { ContainerConfig } from './config.js';
import type { ContainerRecord } from './containers.js';
import { hostResolvConf } from './etc.js';
import { containerHosts, containerResolvConf, networkConfig, parseNetworkMode, portsToPublish, type NetworkConfig, type NetworkMode, type NetworkRequest } from './networking.js';

/** A running container as the checks need it. */
export interface PeerView {
  readonly record: ContainerRecord;
  readonly running: boolean;
}

/** What create decided about the network, before anything is made. */
export interface NetworkPlan {
  readonly mode: NetworkMode;
  /** The recorded --network: none, host, container:NAME or the network's name. */
  readonly networkMode: string;
  readonly manager?: NetworkManager | undefined;
  readonly net?: NetworkConfig | undefined;
  /** The container whose namespace a container:NAME one joins. */
  readonly peer?: PeerView | undefined;
}

/** The network flags of one create. */
export interface NetworkFlags {
  readonly network?: string | undefined;
  readonly networking?: NetworkRequest | undefined;
  readonly hostname?: string | undefined;
  readonly onWarning?: ((message: string) => void) | undefined;
}

export class ContainerNetworks {
  readonly #layout: StateLayout;
  readonly #manager: (() => Promise<NetworkManager>) | undefined;
  readonly #dir: (id: string) => string;

  constructor(layout: StateLayout, manager: (() => Promise<NetworkManager>) | undefined, dir: (id: string) => string) {
    this.#layout = layout;
    this.#manager = manager;
    this.#dir = dir;
  }

  async manager(): Promise<NetworkManager> {
    if (this.#manager === undefined) throw new UnsupportedError('Networks are not available here', { hint: 'Use --network none or --network host' });
    return this.#manager();
  }

  /**
   * Checks create's network flags and looks up the network or peer container, as docker
   * refuses them, so that nothing is made for a command that cannot work.
   */
  async plan(flags: NetworkFlags, image: ImageConfig['config'], find: (name: string) => PeerView): Promise<NetworkPlan> {
    const mode = parseNetworkMode(flags.network ?? 'bridge');
    const networkMode = mode.kind === 'network' ? mode.name : mode.kind === 'container' ? `container:${mode.target}` : mode.kind;
    const request = flags.networking ?? {};
    const exposed = image?.ExposedPorts;
    if (mode.kind === 'network') {
      const manager = await this.manager();
      const network = manager.find(mode.name);
      if (network.name === 'bridge' && (request.aliases ?? []).length > 0) {
        throw new InvalidArgumentError('network-scoped aliases are only supported for user-defined networks', { hint: 'Create a network with "berth network create" and use --network' });
      }
      return { mode, networkMode, manager, net: networkConfig(request, exposed, manager.defaultNetwork().gateway) };
    }
    const needNetwork = [['--ip', request.ip], ['--mac-address', request.mac], ['--network-alias', request.aliases?.[0]]] as const;
    for (const [flag, value] of needNetwork) {
      if (value !== undefined && value !== '') throw new InvalidArgumentError(`${flag} needs a network: it cannot be used with --network ${networkMode}`);
    }
    const published = (request.ports ?? []).length > 0 || request.publishAll === true;
    if (mode.kind === 'container') {
      if (published) throw new InvalidArgumentError('conflicting options: port publishing and the container type network mode');
      if (flags.hostname !== undefined) throw new InvalidArgumentError('conflicting options: hostname and the network mode');
      if ((request.dns ?? []).length > 0 || (request.addHosts ?? []).length > 0) throw new InvalidArgumentError('conflicting options: dns and the network mode');
      const peer = find(mode.target);
      if (!peer.running) throw new FailedPreconditionError(`cannot join network of a non running container: ${peer.record.name}`, { hint: `Start it with "berth start ${peer.record.name}"` });
      return { mode, networkMode, peer };
    }
    if (published && mode.kind === 'host') flags.onWarning?.('Published ports are discarded when using host network mode');
    return { mode, networkMode, net: networkConfig({ ...request, ports: [], publishAll: false }, exposed, '127.0.0.1') };
  }

  /** The lease of a new container on its network (create). */
  lease(id: string, plan: NetworkPlan): Attachment[] {
    if (plan.manager === undefined || plan.mode.kind !== 'network') return [];
    return [plan.manager.allocate(id, { network: plan.mode.name, ip: plan.net?.ipAddress, mac: plan.net?.macAddress, aliases: plan.net?.aliases })];
  }

  /** /etc/hosts and resolv.conf of a new container. */
  etcFiles(hostname: string, plan: NetworkPlan, attachments: readonly Attachment[]): { hosts: string; resolvConf: string } {
    return {
      hosts: containerHosts(hostname, attachments, plan.net),
      resolvConf: containerResolvConf(hostResolvConf(), attachments, plan.net, plan.manager?.upstreamDns),
    };
  }

  /** The network namespace the container joins by path, if any (config.json). */
  joinPath(id: string, plan: NetworkPlan): string | undefined {
    if (plan.mode.kind === 'network') return this.#layout.netnsPath(id);
    if (plan.peer === undefined) return undefined;
    const { record } = plan.peer;
    const mode = parseNetworkMode(record.config.networkMode);
    if (mode.kind === 'host') throw new InvalidArgumentError(`Container ${record.name} uses the host's network: use --network host`);
    return mode.kind === 'network' ? this.#layout.netnsPath(record.id) : `/proc/${record.pid}/ns/net`;
  }

  /**
   * Sets up the network of a container on networks before its process is made (create,
   * start). Returns the host ports its monitor is to hold ("tcp:0.0.0.0:8080").
   */
  async up(id: string, config: ContainerConfig): Promise<string[]> {
    if (parseNetworkMode(config.networkMode).kind !== 'network') return [];
    const manager = await this.manager();
    const published = await manager.setup(id, this.#layout.netnsPath(id), config.net === undefined ? [] : portsToPublish(config.net));
    return published.filter((p) => p.protocol === 'tcp' || p.protocol === 'udp').map((p) => `${p.protocol}:${p.hostIp === '' ? '0.0.0.0' : p.hostIp}:${p.hostPort}`);
  }

  /**
   * Tears down a container's network namespace, veth pairs and published ports (stop, the
   * monitor's cleanup, rm), and with `release` its address leases (rm). Idempotent.
   */
  async down(record: ContainerRecord, options: { release: boolean }): Promise<void> {
    if (parseNetworkMode(record.config.networkMode).kind !== 'network') return;
    const manager = await this.manager();
    await manager.teardown(record.id, this.#layout.netnsPath(record.id));
    if (options.release) manager.release(record.id);
  }

  /** docker network connect: a lease, and an interface while the container runs; /etc files again. */
  async connect(view: PeerView, network: string, options: { ip?: string | undefined; aliases?: readonly string[] | undefined }): Promise<void> {
    const { record } = view;
    if (parseNetworkMode(record.config.networkMode).kind !== 'network') {
      throw new FailedPreconditionError(`container ${record.name} cannot be connected to a network: it uses --network ${record.config.networkMode}`);
    }
    const manager = await this.manager();
    const live = view.running ? { netns: this.#layout.netnsPath(record.id), pid: record.pid } : undefined;
    await manager.connect(record.id, { network, ip: options.ip, aliases: options.aliases }, live);
    this.#writeEtc(record, manager);
  }

  /** docker network disconnect. */
  async disconnect(record: ContainerRecord, network: string): Promise<void> {
    const manager = await this.manager();
    await manager.disconnect(record.id, network);
    this.#writeEtc(record, manager);
  }

  /** Writes the container's /etc/hosts and resolv.conf again (in place: they are bind-mounted). */
  #writeEtc(record: ContainerRecord, manager: NetworkManager): void {
    const attachments = manager.attachments(record.id);
    const dir = this.#dir(record.id);
    writeFileSync(join(dir, 'hosts'), containerHosts(record.config.hostname, attachments, record.config.net));
    writeFileSync(join(dir, 'resolv.conf'), containerResolvConf(hostResolvConf(), attachments, record.config.net, manager.upstreamDns));
  }

  /** A container's networks and published ports (inspect, port, ps). */
  async settings(record: ContainerRecord): Promise<{ attachments: Attachment[]; ports: PublishedPort[] }> {
    if (parseNetworkMode(record.config.networkMode).kind !== 'network' || this.#manager === undefined) return { attachments: [], ports: [] };
    const manager = await this.manager();
    return { attachments: manager.attachments(record.id), ports: manager.records.portsOf(record.id) };
  }

  /** This store's containers' namespaces that are mounted (reconcile), and the manager's reconcile. */
  async reconcile(known: ReadonlySet<string>, running: (id: string) => boolean | undefined, list: () => Promise<string[]>): Promise<string[]> {
    if (this.#manager === undefined) return [];
    const manager = await this.manager();
    const netns = (await list()).filter((id) => known.has(id));
    return manager.reconcile(running, netns);
  }
}
