/**
 * The container engine: create, start, attach, wait, stop, kill and remove, composed once
 * here for every front end (DESIGN.md). A container is a directory in the store
 * (StateLayout.containerDir), a row in the metadata database (containers.ts), a cgroup
 * leaf, and, while it lives, a berth-monitor process that is the parent of its first
 * process (native.ts).
 */
import { trace } from '../common/trace.js';
import { randomBytes } from 'node:crypto';
import { constants as fsConstants, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { lstat, mkdtemp, open, readdir, readFile, rm, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { MetadataDb } from '../common/metadata.js';
import type { StateLayout } from '../common/paths.js';
import { loadFsx } from '../common/sys/fsx.js';
import { applyDeviceRules, type ContainerCgroup } from '../cgroups/index.js';
import type { ImageRecord } from '../image/index.js';
import type { ImageConfig, RuntimeSpec } from '../oci/index.js';
import type { ContainerConfig, MountRequest, Ulimit } from './config.js';
import { ContainerRecords, processStartTime, sameProcess, type ContainerRecord } from './containers.js';
import { hostnameFile } from './etc.js';
import { findNativePrograms, holdRootfs, runExec, startMonitor, type MonitorOptions, type NativePrograms } from './native.js';
import { isValidName, randomName } from './names.js';
import { normalizeCgroupParent, type CgroupProvider } from './cgroups.js';
import { buildExecPlan, buildHoldPlan, buildPlan } from './plan.js';
import { parseExitRecord, type ExitRecord } from './protocol.js';
import { buildSpec, maxId, resolveUser, type MountInput } from './spec.js';
import { VolumeStore } from './volumes.js';
import { copyFromContainer, copyToContainer } from './copy.js';
import { containerChanges, type Change } from './diff.js';
import { createArgs, findRuntime, mountOverlay, runtimeCommand, unmountIfMounted, type ExternalRuntime } from './external.js';
import { currentHardLimits, hostCapabilities, hostResources, monitorAlive, processMentions, readImageFile } from './host.js';
import { parseSignal } from './signals.js';
import { checkResources, noResources, normalizeResources, ociResources, type ResourceConfig } from './resources.js';
import type { Attachment, NetworkManager, PublishedPort } from '../network/index.js';
import { parseNetworkMode, type NetworkRequest } from './networking.js';
import { ContainerNetworks } from './container-network.js';
import { ContainerLimits, notRunningHint, type ContainerStats } from './limits.js';

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
}

export type PullPolicy = 'missing' | 'always' | 'never';

/** docker run/create options berth supports. */
export interface CreateOptions {
  readonly image: string;
  readonly name?: string | undefined;
  readonly command?: readonly string[] | undefined;
  readonly entrypoint?: string | undefined;
  readonly env?: readonly string[] | undefined;
  readonly workdir?: string | undefined;
  readonly user?: string | undefined;
  readonly hostname?: string | undefined;
  readonly tty?: boolean | undefined;
  readonly interactive?: boolean | undefined;
  readonly autoRemove?: boolean | undefined;
  readonly readOnly?: boolean | undefined;
  readonly capAdd?: readonly string[] | undefined;
  readonly capDrop?: readonly string[] | undefined;
  readonly privileged?: boolean | undefined;
  readonly securityOpt?: readonly string[] | undefined;
  readonly init?: boolean | undefined;
  readonly ulimits?: readonly Ulimit[] | undefined;
  readonly mounts?: readonly MountRequest[] | undefined;
  readonly labels?: Readonly<Record<string, string>> | undefined;
  readonly stopSignal?: string | undefined;
  readonly stopTimeout?: number | undefined;
  /** --network: none, host, container:NAME or a network (default: the default network, "bridge"). */
  readonly network?: string | undefined;
  /** The other network flags: -p, -P, --expose, --dns*, --add-host, --ip, --mac-address, --network-alias. */
  readonly networking?: NetworkRequest | undefined;
  readonly logMaxSize?: number | undefined;
  readonly logMaxFiles?: number | undefined;
  readonly pull?: PullPolicy | undefined;
  /** "berth" (default), or another OCI runtime: runc, crun, or a path. */
  readonly runtime?: string | undefined;
  readonly hostEnv?: Readonly<Record<string, string | undefined>> | undefined;
  /** Resource limits (docker's HostConfig fields); unset ones are unlimited. */
  readonly resources?: Partial<ResourceConfig> | undefined;
  /** --cgroup-parent: the cgroup the container's leaf goes under (default: berth's). */
  readonly cgroupParent?: string | undefined;
  /** Where docker's warnings go ("WARNING: ..." on stderr in the CLI). */
  readonly onWarning?: ((message: string) => void) | undefined;
}

/** docker exec options. */
export interface ExecOptions {
  readonly command: readonly string[];
  readonly env?: readonly string[] | undefined;
  readonly user?: string | undefined;
  readonly workdir?: string | undefined;
  readonly tty?: boolean | undefined;
  readonly interactive?: boolean | undefined;
  readonly detach?: boolean | undefined;
  readonly privileged?: boolean | undefined;
}

/** The container's environment with KEY=VALUE entries replaced or added by key. */
function mergeEnv(base: readonly string[], extra: readonly string[]): string[] {
  const out = new Map<string, string>();
  const key = (e: string): string => (e.includes('=') ? e.slice(0, e.indexOf('=')) : e);
  for (const e of base) out.set(key(e), e);
  for (const e of extra) {
    if (e.includes('=')) out.set(key(e), e);
    else if (process.env[e] !== undefined) out.set(e, `${e}=${process.env[e] ?? ''}`);
  }
  return [...out.values()];
}

/** A container's live status, docker's words. */
export type ContainerStatus = 'created' | 'running' | 'paused' | 'restarting' | 'removing' | 'exited' | 'dead';


/** A record with its live status. */
export interface ContainerView {
  readonly record: ContainerRecord;
  readonly status: ContainerStatus;
  readonly running: boolean;
  readonly exitCode: number;
  readonly finishedAt: string;
  readonly signal: number;
  /** The OOM killer struck while it ran (docker's State.OOMKilled). */
  readonly oomKilled: boolean;
}

const defaultLogMaxSize = 10 * 1024 * 1024;
const defaultLogMaxFiles = 3;
const S_IFIFO = 0o010000;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function errno(err: unknown): string | undefined {
  return err !== null && typeof err === 'object' && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/** Container lifecycle. */
export class ContainerEngine {
  readonly #deps: EngineDeps;
  readonly #records: ContainerRecords;
  readonly volumes: VolumeStore;
  readonly #net: ContainerNetworks;
  readonly #limits: ContainerLimits;
  #native: NativePrograms | undefined;

  constructor(deps: EngineDeps) {
    this.#deps = deps;
    this.#records = new ContainerRecords(deps.db);
    this.volumes = new VolumeStore(deps.db, deps.layout);
    this.#net = new ContainerNetworks(deps.layout, deps.network, (id) => this.dir(id));
    this.#limits = new ContainerLimits(this.#records, deps.cgroups, (id) => this.dir(id), (name) => this.#runtime(name));
    this.#native = deps.native;
  }

  /** Names of the containers that mount each volume. */
  volumeUsers(): Map<string, string[]> {
    const users = new Map<string, string[]>();
    for (const r of this.#records.list()) {
      for (const m of r.config.mounts) {
        if (m.type === 'volume') users.set(m.name, [...(users.get(m.name) ?? []), r.name]);
      }
    }
    return users;
  }

  get records(): ContainerRecords {
    return this.#records;
  }

  #programs(): NativePrograms {
    this.#native ??= findNativePrograms();
    return this.#native;
  }

  /** The container's directory. */
  dir(id: string): string {
    return this.#deps.layout.containerDir(id);
  }

  /** Where the container's network namespace is mounted while it runs on a network. */
  netnsPath(id: string): string {
    return this.#deps.layout.netnsPath(id);
  }

  /** The json-file log of a container. */
  logPath(id: string): string {
    return join(this.dir(id), `${id}-json.log`);
  }

  /** Finds a container by name, id or id prefix, with its live status. */
  find(input: string): ContainerView {
    return this.view(this.#records.find(input));
  }

  list(): ContainerView[] {
    return this.#records.list().map((r) => this.view(r));
  }

  /** Works out the live status from the record, exit.json and the processes. */
  view(record: ContainerRecord): ContainerView {
    const base = { record, exitCode: record.exitCode, finishedAt: record.finishedAt, signal: 0, oomKilled: false };
    if (record.state === 'creating') {
      return { ...base, status: sameProcess(record.pid, record.pidStart) ? 'created' : 'dead', running: false };
    }
    if (record.state === 'removing') return { ...base, status: 'removing', running: false };
    if (record.state === 'exited') return { ...base, status: 'exited', running: false, oomKilled: this.#readExitSync(record.id)?.oomKilled === true };
    const exit = this.#readExitSync(record.id);
    if (exit !== undefined) {
      return { ...base, status: 'exited', running: false, exitCode: exit.exitCode, finishedAt: exit.finishedAt, signal: exit.signal, oomKilled: exit.oomKilled };
    }
    if (!sameProcess(record.pid, record.pidStart)) {
      // Gone (or a zombie): the monitor reaps it and writes exit.json in a moment, so until
      // then it still counts as running. Only a monitor that died without writing it
      // (killed, or the host rebooted) leaves the status unknown: 255.
      if (monitorAlive(record.monitorPid)) return { ...base, status: 'running', running: true };
      // The monitor may have written it and gone between the first look and this one.
      const late = this.#readExitSync(record.id);
      if (late !== undefined) return { ...base, status: 'exited', running: false, exitCode: late.exitCode, finishedAt: late.finishedAt, signal: late.signal, oomKilled: late.oomKilled };
      return { ...base, status: 'exited', running: false, exitCode: 255, finishedAt: record.finishedAt };
    }
    // A paused container is running, docker says, with its processes frozen.
    return { ...base, status: record.state === 'created' ? 'created' : record.state === 'paused' ? 'paused' : 'running', running: record.state !== 'created' };
  }

  #readExitSync(id: string): ExitRecord | undefined {
    try {
      // Small, and read on every status query: sync is cheaper than a round trip through the pool.
      const text = loadText(join(this.dir(id), 'exit.json'));
      return text === undefined ? undefined : parseExitRecord(text);
    } catch {
      return undefined;
    }
  }

  /**
   * docker create: prepares the container's directory, config.json and cgroup, and starts
   * the monitor, whose helper sets the container up and leaves its first process waiting
   * for start. Nothing is left behind when it fails.
   */
  async create(options: CreateOptions): Promise<ContainerView> {
    const image = await this.#deps.resolveImage(options.image, options.pull ?? 'missing');
    trace('image resolved');
    const imageConfig = await this.#deps.readImageConfig(image);
    trace('image config read');
    const exec = imageConfig.config ?? {};
    if (options.name !== undefined && !isValidName(options.name)) {
      throw new InvalidArgumentError(`Invalid container name "${options.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    const id = randomBytes(32).toString('hex');
    const hostname = options.hostname ?? id.slice(0, 12);
    // The network and the peer container are looked up, and the flags checked, before anything is made.
    const netPlan = await this.#net.plan({ network: options.network, networking: options.networking, hostname: options.hostname, onWarning: options.onWarning }, exec, (name) => this.find(name));
    const { networkMode, net, peer } = netPlan;
    // Checked early so that nothing is created for a command that cannot be right.
    const cmd = options.command !== undefined && options.command.length > 0 ? [...options.command] : [...(exec.Cmd ?? [])];
    const entrypoint = options.entrypoint !== undefined ? (options.entrypoint === '' ? [] : [options.entrypoint]) : [...(exec.Entrypoint ?? [])];
    const effectiveCmd = options.entrypoint !== undefined && (options.command === undefined || options.command.length === 0) ? [] : cmd;
    const argv = [...entrypoint, ...effectiveCmd];
    if (argv.length === 0) throw new InvalidArgumentError('No command specified', { hint: 'Give a command after the image name, or use an image with a CMD or ENTRYPOINT' });

    let config: ContainerConfig = {
      hostname, domainname: '', user: options.user ?? exec.User ?? '', env: [...(options.env ?? [])], cmd: effectiveCmd,
      entrypoint: entrypoint.length > 0 ? entrypoint : null, workingDir: options.workdir ?? exec.WorkingDir ?? '',
      labels: { ...(exec.Labels ?? {}), ...(options.labels ?? {}) }, tty: options.tty === true, openStdin: options.interactive === true,
      stopSignal: options.stopSignal ?? exec.StopSignal ?? 'SIGTERM', stopTimeout: options.stopTimeout, image: options.image,
      path: argv[0] ?? '', args: argv.slice(1), autoRemove: options.autoRemove === true, readonlyRootfs: options.readOnly === true,
      privileged: options.privileged === true, capAdd: [...(options.capAdd ?? [])], capDrop: [...(options.capDrop ?? [])],
      securityOpt: [...(options.securityOpt ?? [])], init: options.init === true, ulimits: [...(options.ulimits ?? [])],
      mounts: [...(options.mounts ?? [])], networkMode, ...(net === undefined ? {} : { net }), logMaxSize: options.logMaxSize ?? defaultLogMaxSize,
      logMaxFiles: options.logMaxFiles ?? defaultLogMaxFiles, runtime: options.runtime ?? 'berth',
    };
    parseSignal(config.stopSignal);
    // Limits are checked, and devices looked up, before anything is made (exit 125, nothing left).
    const resources = normalizeResources({ ...noResources, ...options.resources });
    for (const w of checkResources(resources, hostResources())) options.onWarning?.(w);
    const oci = ociResources(resources);
    config = { ...config, resources, ...(options.cgroupParent === undefined ? {} : { cgroupParent: normalizeCgroupParent(options.cgroupParent) }) };
    const noNewPrivileges = config.securityOpt.some((o) => /^no-new-privileges(?::true|=true)?$/.test(o));
    for (const o of config.securityOpt) {
      if (!/^no-new-privileges(?:[:=](?:true|false))?$/.test(o)) {
        throw new InvalidArgumentError(`Unsupported --security-opt "${o}"`, { hint: 'berth supports no-new-privileges' });
      }
    }

    let name = options.name?.replace(/^\//, '');
    for (let attempt = 0; ; attempt++) {
      const candidate = name ?? randomName(attempt);
      try {
        // One transaction: one commit instead of two.
        this.#deps.db.transaction(() => {
          this.#records.insert({ id, name: candidate, imageId: image.id, imageName: options.image, created: new Date().toISOString(), config });
          // While creating, pid is the creating berth process: if it dies half way, the
          // container shows as dead and rm or system prune cleans up after it.
          this.#records.update(id, { pid: process.pid, pidStart: processStartTime(process.pid) ?? '' });
        });
        name = candidate;
        break;
      } catch (err) {
        if (!(err instanceof AlreadyExistsError) || options.name !== undefined || attempt > 20) throw err;
      }
    }

    trace('record inserted');
    const dir = this.dir(id);
    let cgroup: ContainerCgroup | undefined;
    let monitorPid = 0;
    let pid = 0;
    let networkReady: Promise<string[]> | undefined;
    try {
      const lowers = [...image.layers].reverse().map((l) => this.#deps.layout.layerDiffDir(l.diffId));
      if (lowers.length === 0) throw new InvalidArgumentError(`Image "${options.image}" has no layers`);
      // The image's passwd and group are read on the threadpool while the directory is made.
      const etc = Promise.all([readImageFile(lowers, 'etc/passwd'), readImageFile(lowers, 'etc/group')]);
      etc.catch(() => undefined);
      const attachments = this.#net.lease(id, netPlan);
      trace('address leased');
      this.#makeDir(dir, hostname, this.#net.etcFiles(hostname, netPlan, attachments));
      // The network is made (berth-net, another process) while the config and cgroup are.
      networkReady = this.#net.up(id, config);
      networkReady.catch(() => undefined);
      const [passwd, group] = await etc;
      const user = resolveUser(config.user === '' ? '0' : config.user, passwd, group);
      // A container in another's network namespace shares its hosts and resolv.conf, as docker's does.
      const etcDir = peer === undefined ? dir : this.dir(peer.record.id);
      const mounts: MountInput[] = [
        { type: 'bind', source: join(etcDir, 'resolv.conf'), destination: '/etc/resolv.conf' },
        { type: 'bind', source: join(dir, 'hostname'), destination: '/etc/hostname' },
        { type: 'bind', source: join(etcDir, 'hosts'), destination: '/etc/hosts' },
      ];
      // The image's VOLUMEs that no mount covers get anonymous volumes, as docker gives them.
      const covered = new Set(config.mounts.map((m) => m.destination));
      const requests: MountRequest[] = [
        ...config.mounts,
        ...Object.keys(exec.Volumes ?? {}).filter((d) => !covered.has(d)).map((d): MountRequest => ({ type: 'volume', name: '', destination: d, readOnly: false })),
      ];
      const resolved: MountRequest[] = [];
      for (const m of requests) {
        if (m.type === 'volume') {
          const volume = await this.volumes.create({ name: m.name === '' ? undefined : m.name, anonymous: m.name === '' });
          resolved.push({ ...m, name: volume.name });
          mounts.push({ type: 'bind', source: volume.mountpoint, destination: m.destination, readOnly: m.readOnly });
        } else {
          resolved.push(m);
          if (m.type === 'bind') mounts.push({ type: 'bind', source: m.source, destination: m.destination, readOnly: m.readOnly });
          else mounts.push({ type: 'tmpfs', destination: m.destination, options: m.options });
        }
      }
      config = { ...config, mounts: resolved };
      // Only volumes change what was recorded (their names).
      if (requests.some((m) => m.type === 'volume')) this.#records.updateConfig(id, config);
      const hostCaps = hostCapabilities();
      const joinNet = this.#net.joinPath(id, netPlan);
      const spec: RuntimeSpec = buildSpec({
        rootfs: join(dir, 'rootfs'), image: exec, command: options.command, entrypoint: options.entrypoint, env: config.env,
        hostEnv: options.hostEnv, workdir: options.workdir, user, hostname, tty: config.tty, readOnly: config.readonlyRootfs,
        capAdd: config.capAdd, capDrop: config.capDrop, privileged: config.privileged, noNewPrivileges,
        rlimits: config.ulimits.map((u) => ({ type: u.name, soft: u.soft, hard: u.hard })), mounts,
        cgroupsPath: await this.#deps.cgroups.cgroupsPath(id, config.cgroupParent), hostCapabilities: hostCaps, resources: oci.resources, devices: oci.devices,
        namespaces: networkMode === 'host' ? ['pid', 'ipc', 'uts', 'mount', 'cgroup'] : ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'],
        joinNamespaces: joinNet === undefined ? {} : { network: joinNet },
      });
      // Without CAP_SYS_RESOURCE nothing can raise a hard limit: say so now, by name.
      const hard = currentHardLimits();
      for (const r of spec.process?.rlimits ?? []) {
        const max = hard.get(r.type);
        if (max !== undefined && r.hard > max && !hostCaps.includes('CAP_SYS_RESOURCE')) {
          const name = r.type.replace(/^RLIMIT_/, '').toLowerCase();
          throw new InvalidArgumentError(`--ulimit ${name}=${r.soft}:${r.hard}: the hard limit ${r.hard} is above this host's ${max}`, {
            hint: `Only a process with CAP_SYS_RESOURCE may raise it, which berth lacks here; use at most ${name}=${Math.min(r.soft, max)}:${max}`,
          });
        }
      }
      trace('spec built');
      // Synchronous, like the rest of the directory (#makeDir).
      writeFileSync(join(dir, 'config.json'), `${JSON.stringify(spec, null, 2)}\n`);
      const holdPorts = await networkReady;
      trace('network set up');
      if (config.runtime !== 'berth') {
        const created = await this.#createExternal(id, dir, config, lowers, holdPorts);
        monitorPid = created.monitorPid;
        pid = created.pid;
        this.#records.update(id, { state: 'created', pid, pidStart: processStartTime(pid) ?? '', monitorPid });
        return this.find(id);
      }
      trace('config written');
      cgroup = await this.#deps.cgroups.create(id, config.cgroupParent);
      trace('cgroup created');
      await applyDeviceRules(cgroup.paths, spec.linux?.resources?.devices ?? []);
      trace('device rules');
      for (const w of cgroup.apply(spec.linux?.resources ?? {})) options.onWarning?.(w);
      const created = await this.#launch(id, config, spec, lowers, cgroup, holdPorts);
      trace('launched');
      monitorPid = created.monitorPid;
      pid = created.pid;
      this.#records.update(id, { state: 'created', pid, pidStart: processStartTime(pid) ?? '', monitorPid });
    } catch (err) {
      // A setup still under way finishes first, so that the teardown finds what it made.
      await networkReady?.catch(() => undefined);
      await this.#discard(id, dir, cgroup, pid, monitorPid);
      throw err;
    }
    return this.find(id);
  }

  /**
   * The monitor's exit command for a container that ends by itself (podman's `container
   * cleanup`): its network is torn down; a container that runs again is set up anew.
   */
  async cleanup(input: string): Promise<void> {
    const view = this.find(input);
    // A start that began meanwhile removed exit.json first: its network is not this run's.
    if (view.status !== 'exited' || this.#readExitSync(view.record.id) === undefined) return;
    await this.#net.down(view.record, { release: false });
  }

  /**
   * docker network connect: a lease on another network, and, while the container runs, an
   * interface in its namespace; its /etc/hosts and resolv.conf are written again.
   */
  async connect(network: string, input: string, options: { ip?: string | undefined; aliases?: readonly string[] | undefined } = {}): Promise<void> {
    await this.#net.connect(this.find(input), network, options);
  }

  /** docker network disconnect. */
  async disconnect(network: string, input: string): Promise<void> {
    await this.#net.disconnect(this.find(input).record, network);
  }

  /** A container's networks and published ports (inspect, port, ps). */
  networkSettings(record: ContainerRecord): Promise<{ attachments: Attachment[]; ports: PublishedPort[] }> {
    return this.#net.settings(record);
  }

  /**
   * Makes the container's directory, with the overlay's directories and the files bound
   * over the image's /etc. Synchronous, a departure from STYLE.md §2 that `berth run` pays
   * for once per container: a dozen small calls that each take microseconds, where
   * awaiting each through libuv's threadpool took about 3 ms in all.
   */
  #makeDir(dir: string, hostname: string, etc: { hosts: string; resolvConf: string }): void {
    // recursive only so that an existing directory is no error (the store root exists: the
    // database is in it).
    mkdirSync(this.#deps.layout.containersDir(), { recursive: true, mode: 0o711 });
    mkdirSync(dir, { mode: 0o710 });
    for (const sub of ['rootfs', 'upper', 'work']) mkdirSync(join(dir, sub), { mode: 0o755 });
    writeFileSync(join(dir, 'hostname'), hostnameFile(hostname));
    writeFileSync(join(dir, 'hosts'), etc.hosts);
    writeFileSync(join(dir, 'resolv.conf'), etc.resolvConf);
  }

  /** Undoes a create that failed part way. */
  async #discard(id: string, dir: string, cgroup: ContainerCgroup | undefined, pid: number, monitorPid: number): Promise<void> {
    const record = this.#records.byId(id);
    if (record !== undefined && record.config.runtime !== 'berth') await this.#deleteExternal(record).catch(() => undefined);
    for (const p of [pid, monitorPid]) {
      if (p > 0) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    if (pid > 0) await this.#waitGone(pid, 5000);
    if (cgroup !== undefined) await cgroup.remove().catch(() => undefined);
    if (record !== undefined) await this.#net.down(record, { release: true }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true }).catch(() => undefined);
    this.#records.delete(id);
    if (record !== undefined) await this.#removeAnonymousVolumes(record);
  }

  /** Removes the anonymous volumes of a container that is gone (rm -v, --rm). */
  async #removeAnonymousVolumes(record: ContainerRecord): Promise<void> {
    const users = this.volumeUsers();
    for (const m of record.config.mounts) {
      if (m.type !== 'volume') continue;
      const v = this.volumes.get(m.name);
      if (v?.anonymous === true && (users.get(m.name) ?? []).length === 0) await this.volumes.remove(m.name, []).catch(() => undefined);
    }
  }

  async #waitGone(pid: number, ms: number): Promise<boolean> {
    const start = processStartTime(pid);
    const deadline = Date.now() + ms;
    while (Date.now() < deadline) {
      if (start === undefined || processStartTime(pid) !== start) return true;
      await sleep(10);
    }
    return false;
  }

  /**
   * docker start: lets a created container's process exec its command by opening the exec
   * fifo (runtime.md "start"). A container that has exited is created again first, with
   * the same directory, config and writable layer.
   */
  async start(input: string): Promise<ContainerView> {
    const view = await this.prepareStart(input);
    if (view.status === 'running') return view;
    return this.#startCreated(view);
  }

  /**
   * The first half of start: an exited container is created again, its process waiting to
   * be started, so that `start -a` can attach before any output is made.
   */
  async prepareStart(input: string): Promise<ContainerView> {
    const view = this.find(input);
    return view.status === 'exited' ? this.#recreate(view) : view;
  }

  async #startCreated(view: ContainerView): Promise<ContainerView> {
    if (view.status !== 'created') {
      throw new FailedPreconditionError(`Container ${view.record.name} is ${view.status}`, { hint: `"berth rm -f ${view.record.name}" removes it` });
    }
    if (view.record.config.runtime !== 'berth') {
      await runtimeCommand(await this.#runtime(view.record.config.runtime), ['start', view.record.id]);
      this.#records.update(view.record.id, { state: 'running', startedAt: new Date().toISOString() });
      return this.find(view.record.id);
    }
    const fifo = join(this.dir(view.record.id), 'exec.fifo');
    // The container process already waits in open(O_WRONLY): this open does not block for long.
    const fh = await open(fifo, fsConstants.O_RDONLY);
    try {
      await fh.read(Buffer.alloc(1), 0, 1, null);
    } finally {
      await fh.close();
    }
    await unlink(fifo).catch(() => undefined);
    this.#records.update(view.record.id, { state: 'running', startedAt: new Date().toISOString() });
    return this.find(view.record.id);
  }

  /**
   * Makes the exec fifo and starts the monitor, whose helper sets up the container from
   * `spec` and leaves its first process waiting on the fifo (create, and start of an
   * exited container).
   */
  async #launch(id: string, config: ContainerConfig, spec: RuntimeSpec, lowers: readonly string[], cgroup: ContainerCgroup, holdPorts: readonly string[]): Promise<{ pid: number; monitorPid: number }> {
    const dir = this.dir(id);
    const fifo = join(dir, 'exec.fifo');
    loadFsx().mknod(fifo, S_IFIFO | 0o600, 0, 0);
    const plan = buildPlan({
      spec, rootfs: join(dir, 'rootfs'), overlay: { lowers, upper: join(dir, 'upper'), work: join(dir, 'work') },
      execFifo: fifo, cgroup: cgroup.joinTargets(), cgroups: await this.#deps.cgroups.view(), init: config.init,
    });
    return startMonitor(this.#programs(), plan, { ...this.#monitorOptions(id, config), oomFile: cgroup.oomFile(), holdPorts });
  }

  /** What the monitor of container `id` is started with. */
  #monitorOptions(id: string, config: ContainerConfig): MonitorOptions {
    return {
      dir: this.dir(id), logPath: this.logPath(id), logMaxSize: config.logMaxSize, logMaxFiles: config.logMaxFiles,
      tty: config.tty, stdin: config.openStdin,
      exitCommand: config.autoRemove
        ? [...this.#deps.berthCommand, 'rm', '--force', '--volumes', '--if-exists', id]
        : parseNetworkMode(config.networkMode).kind === 'network' ? [...this.#deps.berthCommand, 'container', 'cleanup', id] : undefined,
    };
  }

  /** Creates the process of an exited container again (docker start / restart). */
  async #recreate(view: ContainerView): Promise<ContainerView> {
    const { record } = view;
    const dir = this.dir(record.id);
    const spec = await this.#readSpec(record.id);
    const lowers = await this.#lowers(record);
    for (const f of ['exit.json', 'exec.fifo']) await unlink(join(dir, f)).catch(() => undefined);
    let created: { pid: number; monitorPid: number };
    // The last run's monitor becomes its exit command (`container cleanup`, which tears the
    // network down): let it finish first, or it would tear down the network made here.
    for (const deadline = Date.now() + 10_000; processMentions(record.monitorPid, record.id) && Date.now() < deadline;) await sleep(5);
    await this.#net.down(record, { release: false });
    const holdPorts = await this.#net.up(record.id, record.config);
    try {
      created = await this.#startProcess(record, spec, lowers, holdPorts);
    } catch (err) {
      await this.#net.down(record, { release: false }).catch(() => undefined);
      throw err;
    }
    this.#records.update(record.id, {
      state: 'created', pid: created.pid, pidStart: processStartTime(created.pid) ?? '', monitorPid: created.monitorPid,
      restartCount: record.restartCount + (record.startedAt === '' ? 0 : 1),
    });
    return this.find(record.id);
  }

  /** Makes the process of an exited container again, with berth's helper or another runtime. */
  async #startProcess(record: ContainerRecord, spec: RuntimeSpec, lowers: readonly string[], holdPorts: readonly string[]): Promise<{ pid: number; monitorPid: number }> {
    const dir = this.dir(record.id);
    let created: { pid: number; monitorPid: number };
    if (record.config.runtime !== 'berth') {
      await this.#deleteExternal(record);
      created = await this.#createExternal(record.id, dir, record.config, lowers, holdPorts);
    } else {
      // A leaf that went (system prune of an old empty one) is made again.
      const cgroup = await this.#deps.cgroups.attach(record.id, record.config.cgroupParent).catch(async (err: unknown) => {
        if (!(err instanceof NotFoundError)) throw err;
        const made = await this.#deps.cgroups.create(record.id, record.config.cgroupParent);
        await applyDeviceRules(made.paths, spec.linux?.resources?.devices ?? []);
        return made;
      });
      created = await this.#launch(record.id, record.config, spec, lowers, cgroup, holdPorts);
    }
    return created;
  }

  /** The container's config.json (written by create; berth's own, so not validated again). */
  async #readSpec(id: string): Promise<RuntimeSpec> {
    return JSON.parse(await readFile(join(this.dir(id), 'config.json'), 'utf8')) as RuntimeSpec;
  }

  /** The layer directories of the container's image, topmost first: its overlay's lowers. */
  async #lowers(record: ContainerRecord): Promise<string[]> {
    const image = await this.#deps.resolveImage(record.imageId, 'never').catch(() => {
      throw new NotFoundError(`The image of container ${record.name} (${record.imageId}) is gone`);
    });
    return [...image.layers].reverse().map((l) => this.#deps.layout.layerDiffDir(l.diffId));
  }

  async #runtime(name: string): Promise<ExternalRuntime> {
    return findRuntime(name, join(this.#deps.layout.root, 'runtimes'));
  }

  /** create with another OCI runtime: the rootfs mounted on the host, the monitor running `<runtime> create`. */
  async #createExternal(id: string, dir: string, config: ContainerConfig, lowers: readonly string[], holdPorts: readonly string[]): Promise<{ pid: number; monitorPid: number }> {
    const rt = await this.#runtime(config.runtime);
    await mountOverlay(lowers, join(dir, 'upper'), join(dir, 'work'), join(dir, 'rootfs'));
    try {
      return await startMonitor(this.#programs(), Buffer.alloc(0), { ...this.#monitorOptions(id, config), holdPorts, extraArgs: createArgs(rt, dir, id, { tty: config.tty }) });
    } catch (err) {
      await unmountIfMounted(join(dir, 'rootfs'));
      throw err;
    }
  }

  /** The other runtime's delete, and the host mount of the rootfs. */
  async #deleteExternal(record: ContainerRecord): Promise<void> {
    const rt = await this.#runtime(record.config.runtime).catch(() => undefined);
    if (rt !== undefined) await runtimeCommand(rt, ['delete', '--force', record.id]).catch(() => undefined);
    await unmountIfMounted(join(this.dir(record.id), 'rootfs'));
  }

  /** Waits until the container has exited; resolves with its view. */
  async wait(input: string, options: { signal?: AbortSignal } = {}): Promise<ContainerView> {
    const id = this.find(input).record.id;
    let delay = 5;
    for (;;) {
      const record = this.#records.byId(id);
      if (record === undefined) throw new NotFoundError(`No such container: ${input}`);
      const view = this.view(record);
      if (view.status === 'exited' || view.status === 'dead') {
        this.#settle(view);
        return view;
      }
      if (view.status === 'created' && record.state === 'creating') throw new FailedPreconditionError(`Container ${record.name} is being created`);
      options.signal?.throwIfAborted();
      await sleep(delay);
      delay = Math.min(delay * 2, 100);
    }
  }

  /** Records an exit seen in exit.json, once. */
  #settle(view: ContainerView): void {
    if (view.record.state === 'exited' || view.record.state === 'removing') return;
    this.#records.update(view.record.id, { state: 'exited', exitCode: view.exitCode, finishedAt: view.finishedAt === '' ? new Date().toISOString() : view.finishedAt });
  }

  /** docker kill: sends `signal` to the container's first process. */
  async kill(input: string, signal: string | number = 'SIGKILL'): Promise<void> {
    const view = this.find(input);
    if (!view.running) throw new FailedPreconditionError(`Cannot kill container: ${view.record.name} is not running`, { hint: notRunningHint(view) });
    const n = typeof signal === 'number' ? signal : parseSignal(signal);
    if (n === 9) await this.#killAll(view.record);
    else signalProcess(view.record, n);
  }

  /**
   * SIGKILL to every process of the container through its cgroup, so that none escapes by
   * forking; a paused container is thawed for it. Its first process is signalled directly
   * too, for a container whose cgroup is gone or belongs to another runtime.
   */
  async #killAll(record: ContainerRecord): Promise<void> {
    signalProcess(record, 9);
    const cgroup = await this.#deps.cgroups.attach(record.id, record.config.cgroupParent).catch(() => undefined);
    if (cgroup !== undefined) await cgroup.signalAll('SIGKILL');
    if (this.#records.byId(record.id)?.state === 'paused') this.#records.update(record.id, { state: 'running' });
  }

  /** Resource usage of a running container (its cgroup's, and its network's). */
  stats(view: ContainerView): Promise<ContainerStats> {
    return this.#limits.stats(view);
  }

  /** docker pause: freezes every process of the container (v1 freezer, v2 cgroup.freeze). */
  async pause(input: string): Promise<void> {
    await this.#limits.pause(this.find(input));
  }

  /** docker unpause. */
  async unpause(input: string): Promise<void> {
    await this.#limits.unpause(this.find(input));
  }

  /** docker update: new limits, at once when it runs and for its next start; docker's warnings. */
  update(input: string, changes: Partial<ResourceConfig>): Promise<string[]> {
    return this.#limits.update(this.find(input), changes);
  }

  /**
   * docker stop: `signal` (else the container's stop signal), then SIGKILL after `timeout`
   * seconds (the container's --stop-timeout, else 10).
   */
  async stop(input: string, timeout?: number, signal?: string): Promise<ContainerView> {
    const view = this.find(input);
    const stopped = await this.#stop(view, timeout, signal);
    await this.#net.down(view.record, { release: false });
    return stopped;
  }

  async #stop(view: ContainerView, timeout?: number, signal?: string): Promise<ContainerView> {
    if (view.status === 'created') {
      await this.#killCreated(view);
      return this.wait(view.record.id);
    }
    if (!view.running) return view;
    const seconds = timeout ?? view.record.config.stopTimeout ?? 10;
    signalProcess(view.record, parseSignal(signal ?? view.record.config.stopSignal));
    // A frozen process cannot act on the signal: thaw it, as docker does.
    if (view.status === 'paused') await this.unpause(view.record.id).catch(() => undefined);
    const deadline = Date.now() + Math.max(0, seconds) * 1000;
    while (Date.now() < deadline) {
      const now = this.view(this.#records.byId(view.record.id) ?? view.record);
      if (!now.running) return this.wait(view.record.id);
      await sleep(20);
    }
    await this.#killAll(view.record);
    return this.wait(view.record.id);
  }

  async #killCreated(view: ContainerView): Promise<void> {
    signalProcess(view.record, 9);
    await this.#waitGone(view.record.pid, 5000);
  }

  /** docker rm: refuses a running container unless `force`, which kills it first. */
  async remove(input: string, options: { force?: boolean; ifExists?: boolean; volumes?: boolean } = {}): Promise<string> {
    let view: ContainerView;
    try {
      view = this.find(input);
    } catch (err) {
      if (options.ifExists === true && err instanceof NotFoundError) return input;
      throw err;
    }
    const { record } = view;
    if (view.status === 'removing' && options.force !== true) {
      if (options.ifExists === true) return record.id;
      // Every step below is idempotent: -f finishes a removal whose berth died half way.
      throw new FailedPreconditionError(`Removal of container ${record.name} is already in progress`, {
        hint: `If no other berth is removing it, finish the removal with "berth rm -f ${record.name}"`,
      });
    }
    if (view.running && options.force !== true) {
      throw new FailedPreconditionError(`You cannot remove a ${view.status} container ${record.id}`, {
        hint: `Stop the container before removing it, or force the removal with "berth rm -f ${input}"`,
      });
    }
    this.#records.update(record.id, { state: 'removing' });
    if (sameProcess(record.pid, record.pidStart)) {
      await this.#killAll(record);
      await this.#waitGone(record.pid, 10_000);
    }
    // The monitor finishes by itself once the container is gone; give it a moment so it
    // does not write into a directory being removed.
    trace('rm: killed');
    if (record.monitorPid > 0) await this.#waitMonitor(record.monitorPid, 2000);
    trace('rm: monitor gone');
    if (record.config.runtime !== 'berth') await this.#deleteExternal(record);
    const cgroup = await this.#deps.cgroups.attach(record.id, record.config.cgroupParent).catch((err: unknown) => {
      // Another runtime removes its own cgroup on delete; a create that died early made none.
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    // Whatever is still in the cgroup (a create killed after the helper forked, before the
    // pid was recorded) goes too: remove kills what keeps a leaf busy.
    await cgroup?.remove({ kill: true });
    trace('rm: cgroup removed');
    // The namespace is unmounted (berth-net) while the directory goes.
    await Promise.all([this.#net.down(record, { release: true }), rm(this.dir(record.id), { recursive: true, force: true, maxRetries: 3 })]);
    trace('rm: network down, dir removed');
    this.#records.delete(record.id);
    if (options.volumes === true) await this.#removeAnonymousVolumes(record);
    trace('rm: done');
    return record.id;
  }

  async #waitMonitor(pid: number, ms: number): Promise<void> {
    const deadline = Date.now() + ms;
    // One synchronous read of /proc/<pid>/stat per look (monitorAlive). The monitor exits
    // right after it closes the attach socket, so look again soon, then every 10 ms.
    for (let delay = 1; Date.now() < deadline; delay = Math.min(delay * 2, 10)) {
      if (!monitorAlive(pid)) return;
      await sleep(delay);
    }
  }

  /** docker rename. */
  rename(input: string, name: string): void {
    if (!isValidName(name)) throw new InvalidArgumentError(`Invalid container name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    const view = this.find(input);
    this.#records.rename(view.record.id, name.replace(/^\//, ''));
  }

  /** The attach socket of a running or created container, reachable whatever the path length. */
  attachSocket(view: ContainerView, which: 'attach' | 'ctl' = 'attach'): string {
    // sun_path holds 108 bytes: go through the monitor's cwd, which is the container's directory.
    return `/proc/${view.record.monitorPid}/cwd/${which}`;
  }

  /**
   * docker exec: runs a process in a running container, joining its cgroup and
   * namespaces with its config's identity rules (user, capabilities, no_new_privs) unless
   * overridden. Resolves with the process's exit status (0 at once with `detach`).
   */
  async exec(input: string, options: ExecOptions): Promise<number> {
    const view = this.find(input);
    if (!view.running) throw new FailedPreconditionError(`Container ${view.record.id} is not running`, { hint: notRunningHint(view) });
    const { record } = view;
    if (options.command.length === 0) throw new InvalidArgumentError('No command given to exec');
    const spec = await this.#readSpec(record.id);
    const base = spec.process;
    if (base === undefined) throw new FailedPreconditionError(`Container ${record.name} has no process in its config`);
    let user = base.user;
    if (options.user !== undefined && options.user !== '') {
      // The container's own files, resolved inside its root by berth (a plain path through
      // /proc/<pid>/root would follow an absolute symlink to the host's /etc).
      const read = (p: string) => this.#readContainerFile(record, p);
      user = { ...resolveUser(options.user, await read('etc/passwd'), await read('etc/group')) };
    }
    if (user.uid > maxId || user.gid > maxId) throw new InvalidArgumentError(`User ids above ${maxId} are not allowed`);
    const env = mergeEnv(base.env ?? [], options.env ?? []);
    const caps = options.privileged === true
      ? (() => {
        const all = hostCapabilities();
        return { bounding: all, effective: all, permitted: all, inheritable: [], ambient: [] };
      })()
      : base.capabilities;
    // Every namespace the container has, created or joined by path (its network namespace), is the exec's too.
    const namespaces = (spec.linux?.namespaces ?? []).map((n) => n.type);
    const cgroup = await this.#deps.cgroups.attach(record.id, record.config.cgroupParent);
    const plan = buildExecPlan({
      process: {
        ...base, user, env, args: [...options.command], cwd: options.workdir ?? base.cwd, terminal: options.tty === true,
        ...(caps === undefined ? {} : { capabilities: caps }),
        ...(options.privileged === true ? { noNewPrivileges: base.noNewPrivileges ?? false } : {}),
      },
      pid: record.pid, namespaces, cgroup: cgroup.joinTargets(),
    });
    // Checked again right before the helper joins: the container may have exited meanwhile.
    if (!sameProcess(record.pid, record.pidStart)) throw new FailedPreconditionError(`Container ${record.id} is not running`, { hint: notRunningHint(view) });
    const run = await runExec(this.#programs(), plan, { stdin: options.interactive === true, detach: options.detach === true });
    return run.status;
  }

  /** The host pids of every process of a running container (from its cgroup). */
  async pids(input: string): Promise<number[]> {
    const view = this.find(input);
    if (!view.running) throw new FailedPreconditionError(`Container ${view.record.id} is not running`, { hint: notRunningHint(view) });
    const cgroup = await this.#deps.cgroups.attach(view.record.id, view.record.config.cgroupParent);
    return cgroup.pids();
  }

  /**
   * docker container prune: removes every container that is not running (exited, dead,
   * created), with its anonymous volumes.
   */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const view of this.list()) {
      if (view.running || view.status === 'removing') continue;
      if (view.status === 'created' && view.record.state === 'creating') continue;
      await this.remove(view.record.id, { force: true, ifExists: true, volumes: true });
      removed.push(view.record.id);
    }
    return removed;
  }

  /**
   * Cleans up after crashes: container directories and cgroup leaves that no record
   * names (a create killed before it recorded anything, or a record removed by a crashed
   * rm), and rootfs mounts left on the host by another runtime. Returns what it removed.
   */
  async reconcile(): Promise<string[]> {
    const known = new Set(this.#records.list().map((r) => r.id));
    const removed: string[] = [];
    const dirs = await readdir(this.#deps.layout.containersDir()).catch(() => [] as string[]);
    for (const id of dirs) {
      if (known.has(id) || !/^[0-9a-f]{64}$/.test(id)) continue;
      // A create in progress records its row before it makes the directory: unknown means orphaned.
      await unmountIfMounted(join(this.dir(id), 'rootfs'));
      await rm(this.dir(id), { recursive: true, force: true });
      removed.push(`container directory ${id}`);
    }
    // Stores with other roots share the cgroup parent: only empty leaves that have been
    // around for a minute are taken as orphans (a create joins its leaf within
    // milliseconds, and a container's leaf that goes is made again by its next start).
    for (const id of await this.#deps.cgroups.leaves()) {
      if (known.has(id) || !/^[0-9a-f]{64}$/.test(id)) continue;
      const cgroup = await this.#deps.cgroups.attach(id).catch(() => undefined);
      if (cgroup === undefined) continue;
      const ages = await Promise.all(Object.values(cgroup.paths).map(async (p) => Date.now() - ((await lstat(p).catch(() => undefined))?.mtimeMs ?? 0)));
      if (ages.some((age) => age < 60_000)) continue;
      if ((await cgroup.pids()).length > 0) continue;
      await cgroup.remove().catch(() => undefined);
      removed.push(`cgroup /berth/${id}`);
    }
    // Network namespaces, veth pairs and published ports of containers that are not running
    // (their berth or monitor was killed before the teardown), leases of removed ones.
    const running = (id: string): boolean | undefined => {
      const record = this.#records.byId(id);
      if (record === undefined) return undefined;
      const view = this.view(record);
      return view.running || view.status === 'created' || view.status === 'removing';
    };
    removed.push(...(await this.#net.reconcile(known, running, () => readdir(this.#deps.layout.netnsDir()).catch(() => [] as string[]))));
    return removed;
  }

  /**
   * Runs `fn` with the container's root as the host reaches it: `/proc/<pid>/root` of its
   * process while it is created or running, else of a berth-helper that holds its
   * filesystem (the rootfs overlay with its volumes and bind mounts, as docker mounts a
   * stopped container's for `docker cp`) in a mount namespace of its own until `fn` is done.
   * `context` starts the messages of the errors: what was being done.
   */
  async #withRoot<T>(view: ContainerView, context: string, fn: (root: string) => Promise<T>): Promise<T> {
    const live = liveRoot(view, context);
    if (live !== undefined) return fn(live);
    const { record } = view;
    const dir = this.dir(record.id);
    // The helper joins the container's cgroup, when it still has one: removing the
    // container kills what is in it, and so ends a hold as it would end the container.
    const cgroup = await this.#deps.cgroups.attach(record.id).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    const plan = buildHoldPlan({
      spec: await this.#readSpec(record.id), rootfs: join(dir, 'rootfs'),
      overlay: { lowers: await this.#lowers(record), upper: join(dir, 'upper'), work: join(dir, 'work') },
      cgroup: cgroup?.joinTargets(),
    });
    const held = await holdRootfs(this.#programs(), plan, `${context}: cannot mount its filesystem`);
    try {
      // Looked at again now that the helper is in the cgroup: a removal that began meanwhile
      // would pull the files from under the copy, and a container started meanwhile is
      // copied through its own root, so that it sees what is written at once.
      const now = this.#records.byId(record.id);
      if (now === undefined) throw new FailedPreconditionError(`${context}: it is being removed`);
      return await fn(liveRoot(this.view(now), context) ?? `/proc/${held.pid}/root`);
    } finally {
      await held.release();
    }
  }

  async #readContainerFile(record: ContainerRecord, path: string): Promise<string | undefined> {
    const tmp = await mkdtemp(join(tmpdir(), 'berth-read-'));
    try {
      await copyFromContainer(`/proc/${record.pid}/root`, path, join(tmp, 'f'), { followLink: true, container: record.name });
      return await readFile(join(tmp, 'f'), 'utf8');
    } catch {
      return undefined;
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  }

  /** docker cp out: `path` in the container (running or not) to a host path, or a tar stream. */
  async copyOut(input: string, path: string, dest: string | NodeJS.WritableStream, options: { followLink: boolean }): Promise<void> {
    const view = this.find(input);
    const { name } = view.record;
    await this.#withRoot(view, `Cannot copy "${path}" from container "${name}"`, (root) =>
      copyFromContainer(root, path, dest, { followLink: options.followLink, container: name }));
  }

  /** docker cp in: a host path, or a tar stream, to `path` in the container (running or not). */
  async copyIn(input: string, src: string | NodeJS.ReadableStream, path: string, options: { archive: boolean; followLink: boolean }): Promise<void> {
    const view = this.find(input);
    const { name } = view.record;
    await this.#withRoot(view, `Cannot copy "${typeof src === 'string' ? src : '-'}" to "${name}:${path}"`, (root) =>
      copyToContainer(root, src, path, { ...options, container: name }));
  }

  /** docker diff: what the container changed in its image's filesystem. */
  async changes(input: string, lowers: readonly string[]): Promise<Change[]> {
    const view = this.find(input);
    const changes = await containerChanges(join(this.dir(view.record.id), 'upper'), lowers);
    // The mount points berth made in the upper layer (/proc, /dev, /etc/hosts, ...) are not
    // the container's doing: docker keeps them out of diff too (its init layer).
    const spec = await this.#readSpec(view.record.id);
    const made = new Set((spec.mounts ?? []).map((m) => m.destination));
    const under = (p: string): boolean => [...made].some((m) => p === m || p.startsWith(`${m}/`));
    const kept = changes.filter((c) => !(c.kind === 'A' && under(c.path)));
    // A directory marked changed only because of those mount points is not changed either.
    return kept.filter((c) => c.kind !== 'C' || kept.some((o) => o !== c && o.path.startsWith(`${c.path}/`)) || !changes.some((o) => o.path.startsWith(`${c.path}/`)));
  }

  /** Image ids that containers use, each with one such container's id. */
  imagesInUse(): Map<string, string> {
    return this.#records.imagesInUse();
  }
}


/**
 * The root of a created or running container's process, `/proc/<pid>/root`; undefined when
 * it has none (it has exited). Refuses a container that is being removed, or whose create
 * never finished. `context` starts the message.
 */
function liveRoot(view: ContainerView, context: string): string | undefined {
  const { record } = view;
  if (view.status === 'removing') throw new FailedPreconditionError(`${context}: it is being removed`);
  if (view.status === 'dead') {
    throw new FailedPreconditionError(`${context}: it is dead (its creation did not finish)`, { hint: `Remove it with "berth rm -f ${record.name}"` });
  }
  if (view.status === 'exited' || !sameProcess(record.pid, record.pidStart)) return undefined;
  return `/proc/${record.pid}/root`;
}

function signalProcess(record: ContainerRecord, signal: number): void {
  if (!sameProcess(record.pid, record.pidStart)) return;
  try {
    process.kill(record.pid, signal);
  } catch (err) {
    if (errno(err) !== 'ESRCH') throw err;
  }
}

function loadText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if (errno(err) === 'ENOENT') return undefined;
    throw err;
  }
}


export { parseSignal } from './signals.js';
export { readImageFile } from './host.js';
