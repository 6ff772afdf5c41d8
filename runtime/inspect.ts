/**
 * docker's container inspect document (`docker inspect`, and the API's
 * GET /containers/{id}/json), built from the engine's record and live view; and its
 * volume inspect document.
 */
import { join } from 'node:path';
import type { StateLayout } from '../common/paths.js';
import { lowerDirs, type ImageService } from '../image/index.js';
import { portMap, type Attachment, type Protocol, type PublishedPort } from '../network/index.js';
import type { ContainerEngine, ContainerView } from './engine.js';
import { noResources, type ResourceConfig } from './resources.js';
import type { VolumeRecord } from './volumes.js';

/** docker's container inspect document. */
export function inspectContainer(engine: ContainerEngine, view: ContainerView, lowerDirs: readonly string[], net: NetworkView = { attachments: [], ports: [] }): Record<string, unknown> {
  const r = view.record;
  const c = r.config;
  const exposed = c.net?.exposedPorts ?? [];
  const dir = engine.dir(r.id);
  const rootfs = engine.rootfsDirs(r.id);
  const zero = '0001-01-01T00:00:00Z';
  return {
    Id: r.id,
    Created: r.created,
    Path: c.path,
    Args: c.args,
    State: {
      Status: view.status, Running: view.running, Paused: view.status === 'paused', Restarting: false, OOMKilled: view.oomKilled,
      Dead: view.status === 'dead', Pid: view.running ? r.pid : 0, ExitCode: view.exitCode, Error: '',
      StartedAt: r.startedAt === '' ? zero : r.startedAt, FinishedAt: view.finishedAt === '' ? zero : view.finishedAt,
    },
    Image: r.imageId,
    ResolvConfPath: join(dir, 'resolv.conf'),
    HostnamePath: join(dir, 'hostname'),
    HostsPath: join(dir, 'hosts'),
    LogPath: engine.logPath(r.id),
    Name: `/${r.name}`,
    RestartCount: r.restartCount,
    Driver: 'overlay2',
    Platform: 'linux',
    MountLabel: '',
    ProcessLabel: '',
    AppArmorProfile: '',
    ExecIDs: null,
    HostConfig: {
      Binds: c.mounts.filter((m) => m.type === 'bind').map((m) => `${m.source}:${m.destination}${m.readOnly ? ':ro' : ''}`),
      LogConfig: { Type: 'json-file', Config: { 'max-size': String(c.logMaxSize), 'max-file': String(c.logMaxFiles) } },
      NetworkMode: c.networkMode, AutoRemove: c.autoRemove, CapAdd: c.capAdd, CapDrop: c.capDrop, Privileged: c.privileged,
      ReadonlyRootfs: c.readonlyRootfs, SecurityOpt: c.securityOpt, Init: c.init, Runtime: c.runtime,
      Ulimits: c.ulimits.map((u) => ({ Name: u.name, Soft: u.soft, Hard: u.hard })),
      // docker's omitempty: present only when set.
      ...(c.sysctls === undefined ? {} : { Sysctls: { ...c.sysctls } }),
      Tmpfs: Object.fromEntries(c.mounts.filter((m) => m.type === 'tmpfs').map((m) => [m.destination, m.options.join(',')])),
      PortBindings: portMap(c.net?.portBindings ?? [], [], false), PublishAllPorts: c.net?.publishAll ?? false,
      Dns: c.net?.dns ?? [], DnsSearch: c.net?.dnsSearch ?? [], DnsOptions: c.net?.dnsOptions ?? [],
      ExtraHosts: (c.net?.extraHosts ?? []).map((h) => `${h.host}:${h.ip}`),
      CgroupParent: c.cgroupParent ?? '', RestartPolicy: { Name: 'no', MaximumRetryCount: 0 },
      // docker's resource fields, with its null for unset lists and PidsLimit.
      ...hostConfigResources(c.resources ?? noResources),
    },
    GraphDriver: {
      Data: { LowerDir: lowerDirs.join(':'), MergedDir: rootfs.merged, UpperDir: rootfs.upper, WorkDir: rootfs.work },
      Name: 'overlay2',
    },
    Mounts: c.mounts.filter((m) => m.type !== 'tmpfs').map((m) => m.type === 'bind'
      ? { Type: 'bind', Source: m.source, Destination: m.destination, Mode: m.readOnly ? 'ro' : '', RW: !m.readOnly, Propagation: m.propagation ?? 'rprivate' }
      : { Type: 'volume', Name: m.name, Destination: m.destination, RW: !m.readOnly }),
    Config: {
      Hostname: c.hostname, Domainname: c.domainname, User: c.user, AttachStdin: false, AttachStdout: !c.openStdin, AttachStderr: !c.openStdin,
      Tty: c.tty, OpenStdin: c.openStdin, StdinOnce: false, Env: c.env, Cmd: c.cmd, Image: c.image, Volumes: null,
      ...(exposed.length === 0 ? {} : { ExposedPorts: Object.fromEntries(exposed.map((e) => [e, {}])) }),
      WorkingDir: c.workingDir, Entrypoint: c.entrypoint, OnBuild: null, Labels: c.labels, StopSignal: c.stopSignal,
      ...(c.stopTimeout === undefined ? {} : { StopTimeout: c.stopTimeout }),
    },
    NetworkSettings: networkSettings(view, net, exposed, engine.netnsPath(r.id)),
  };
}

/**
 * The GraphDriver lower directories of a container: its image's layers, topmost first;
 * none when the image is gone (inspect still shows the container).
 */
export function containerLowerDirs(images: Pick<ImageService, 'find'>, layout: StateLayout, view: ContainerView): string[] {
  const image = (() => {
    try {
      return images.find(view.record.imageId);
    } catch {
      return undefined;
    }
  })();
  // Each layer once, topmost first: the lowers the container's overlay really has (image/snapshots.ts).
  return image === undefined ? [] : lowerDirs(image.layers, (d) => layout.layerDiffDir(d));
}

/** A container's networks and published ports, as the engine reports them. */
export interface NetworkView {
  readonly attachments: readonly Attachment[];
  readonly ports: readonly PublishedPort[];
}

/** docker's NetworkSettings: one entry per network, and the default network's in the legacy top-level fields. */
function networkSettings(view: ContainerView, net: NetworkView, exposed: readonly string[], sandbox: string): Record<string, unknown> {
  const up = view.running || view.status === 'created';
  const networks: Record<string, unknown> = {};
  for (const { network, endpoint } of net.attachments) {
    const prefix = Number(network.subnet.split('/')[1]);
    networks[network.name] = {
      IPAMConfig: endpoint.staticIp ? { IPv4Address: endpoint.ip } : null, Links: null, Aliases: endpoint.aliases.length === 0 ? null : endpoint.aliases,
      MacAddress: endpoint.mac, NetworkID: network.id, EndpointID: up ? `${network.id.slice(0, 32)}${view.record.id.slice(0, 32)}` : '',
      Gateway: network.gateway, IPAddress: endpoint.ip, IPPrefixLen: prefix, IPv6Gateway: '', GlobalIPv6Address: '', GlobalIPv6PrefixLen: 0,
      DNSNames: network.dns ? [view.record.name, view.record.id.slice(0, 12), ...endpoint.aliases] : null,
    };
  }
  const main = net.attachments.find((a) => a.network.name === 'bridge');
  const ports = net.ports.map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol as Protocol }));
  return {
    Bridge: '', SandboxID: up && net.attachments.length > 0 ? view.record.id : '', SandboxKey: up && net.attachments.length > 0 ? sandbox : '',
    Ports: portMap(ports, exposed, true),
    Gateway: main?.network.gateway ?? '', IPAddress: main?.endpoint.ip ?? '', IPPrefixLen: main === undefined ? 0 : Number(main.network.subnet.split('/')[1]),
    MacAddress: main?.endpoint.mac ?? '', Networks: networks,
  };
}

/** docker's HostConfig resource fields: null for unset lists, as `docker inspect` shows them. */
function hostConfigResources(r: ResourceConfig): Record<string, unknown> {
  const list = <T>(l: readonly T[]): readonly T[] | null => (l.length === 0 ? null : l);
  return {
    ...r,
    PidsLimit: r.PidsLimit === null || r.PidsLimit <= 0 ? null : r.PidsLimit,
    BlkioWeightDevice: [],
    BlkioDeviceReadBps: list(r.BlkioDeviceReadBps),
    BlkioDeviceWriteBps: list(r.BlkioDeviceWriteBps),
    BlkioDeviceReadIOps: list(r.BlkioDeviceReadIOps),
    BlkioDeviceWriteIOps: list(r.BlkioDeviceWriteIOps),
    Devices: r.Devices,
    DeviceCgroupRules: list(r.DeviceCgroupRules),
    OomKillDisable: r.OomKillDisable,
  };
}

/** docker's volume inspect document (local driver). */
export function inspectVolume(v: VolumeRecord): Record<string, unknown> {
  return { CreatedAt: v.created, Driver: 'local', Labels: v.labels, Mountpoint: v.mountpoint, Name: v.name, Options: null, Scope: 'local' };
}
