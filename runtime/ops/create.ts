/**
 * docker create, in named phases that pass plain data (resolve → reserve → prepare → spec →
 * launch), each registering its undo on one stack right after it made something, so that a
 * failure at any phase leaves nothing behind (undo.ts):
 * - resolve: the image, its config, every flag checked; nothing is made (exit 125, nothing left);
 * - reserve: the record, in state "creating" with this berth process as its owner;
 * - prepare: the directory, the writable layer (snapshots), the address lease, volumes;
 * - spec: config.json from the pure buildSpec, adjusted by the caller's spec functions;
 * - launch: the network set up while the backend creates the task, then the record moves
 *   to "created" by compare-and-set (a removal that began meanwhile wins, and the create
 *   is undone).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { TaskRef } from '../../common/backend.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError } from '../../common/errors.js';
import { processStartTime } from '../../common/process.js';
import { trace } from '../../common/trace.js';
import type { ImageRecord } from '../../image/index.js';
import type { ImageConfig, LinuxNamespaceType, RuntimeSpec } from '../../oci/index.js';
import { normalizeCgroupParent } from '../cgroups.js';
import type { ContainerConfig, MountRequest, Ulimit } from '../config.js';
import type { NetworkPlan } from '../container-network.js';
import { hostnameFile } from '../etc.js';
import { currentHardLimits, hostCapabilities, hostResources, readImageFile } from '../host.js';
import { isValidName, randomName } from '../names.js';
import type { NetworkRequest } from '../networking.js';
import { checkResources, noResources, normalizeResources, ociResources, type ResourceConfig } from '../resources.js';
import { parseSignal } from '../signals.js';
import { checkSysctls } from '../sysctl.js';
import { buildSpec, containerCommand, resolveUser, type MountInput } from '../spec.js';
import { adjustSpec, type SpecAdjuster } from '../spec-adjust.js';
import { ownedByMe, type ContainerView } from '../state.js';
import { discardTask, exitCommand } from './task.js';
import type { EngineContext, PullPolicy } from './context.js';
import { UndoStack } from './undo.js';

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
  /** --sysctl: namespaced kernel parameters, checked at create (runtime/sysctl.ts). */
  readonly sysctls?: Readonly<Record<string, string>> | undefined;
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
  /** The environment bare `-e KEY` entries are taken from: the front end's, never berth's own. */
  readonly hostEnv?: Readonly<Record<string, string | undefined>> | undefined;
  /** Resource limits (docker's HostConfig fields); unset ones are unlimited. */
  readonly resources?: Partial<ResourceConfig> | undefined;
  /** --cgroup-parent: the cgroup the container's leaf goes under (default: berth's). */
  readonly cgroupParent?: string | undefined;
  /**
   * Small functions that adjust the spec after buildSpec, in order (containerd's SpecOpts):
   * what a caller needs beyond docker's flags (a build step, the VM backend).
   */
  readonly specAdjusters?: readonly SpecAdjuster[] | undefined;
  /** Where docker's warnings go ("WARNING: ..." on stderr in the CLI). */
  readonly onWarning?: ((message: string) => void) | undefined;
}

const defaultLogMaxSize = 10 * 1024 * 1024;
const defaultLogMaxFiles = 3;

/** What the resolve phase found: everything decided, nothing made. */
interface Resolved {
  readonly id: string;
  readonly image: ImageRecord;
  readonly exec: NonNullable<ImageConfig['config']>;
  readonly config: ContainerConfig;
  readonly netPlan: NetworkPlan;
  readonly noNewPrivileges: boolean;
  readonly oci: ReturnType<typeof ociResources>;
}

/** Resolve: the image, its config and every flag, checked before anything is made. */
async function resolve(ctx: EngineContext, options: CreateOptions): Promise<Resolved> {
  const image = await ctx.deps.resolveImage(options.image, options.pull ?? 'missing');
  trace('image resolved');
  const exec = (await ctx.deps.readImageConfig(image)).config ?? {};
  trace('image config read');
  if (options.name !== undefined && !isValidName(options.name)) {
    throw new InvalidArgumentError(`Invalid container name "${options.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
  }
  if (image.layers.length === 0) throw new InvalidArgumentError(`Image "${options.image}" has no layers`);
  const id = randomBytes(32).toString('hex');
  const hostname = options.hostname ?? id.slice(0, 12);
  // The network and the peer container are looked up, and the flags checked, before anything is made.
  const netPlan = await ctx.net.plan({ network: options.network, networking: options.networking, hostname: options.hostname, onWarning: options.onWarning }, exec, (name) => ctx.find(name));
  const { entrypoint, cmd, args } = containerCommand({ image: exec, command: options.command, entrypoint: options.entrypoint });
  const stopSignal = options.stopSignal ?? exec.StopSignal ?? 'SIGTERM';
  parseSignal(stopSignal);
  // Limits are checked, and devices looked up, before anything is made (exit 125, nothing left).
  const resources = normalizeResources({ ...noResources, ...options.resources });
  for (const w of checkResources(resources, hostResources())) options.onWarning?.(w);
  const securityOpt = [...(options.securityOpt ?? [])];
  for (const o of securityOpt) {
    if (!/^no-new-privileges(?:[:=](?:true|false))?$/.test(o)) {
      throw new InvalidArgumentError(`Unsupported --security-opt "${o}"`, { hint: 'berth supports no-new-privileges' });
    }
  }
  const config: ContainerConfig = {
    hostname, domainname: '', user: options.user ?? exec.User ?? '', env: [...(options.env ?? [])], cmd,
    entrypoint: entrypoint.length > 0 ? entrypoint : null, workingDir: options.workdir ?? exec.WorkingDir ?? '',
    labels: { ...(exec.Labels ?? {}), ...(options.labels ?? {}) }, tty: options.tty === true, openStdin: options.interactive === true,
    stopSignal, stopTimeout: options.stopTimeout, image: options.image,
    path: args[0] ?? '', args: args.slice(1), autoRemove: options.autoRemove === true, readonlyRootfs: options.readOnly === true,
    privileged: options.privileged === true, capAdd: [...(options.capAdd ?? [])], capDrop: [...(options.capDrop ?? [])],
    securityOpt, init: options.init === true, ulimits: [...(options.ulimits ?? [])],
    ...(options.sysctls === undefined || Object.keys(options.sysctls).length === 0 ? {} : { sysctls: { ...options.sysctls } }),
    mounts: [...(options.mounts ?? [])], networkMode: netPlan.networkMode, ...(netPlan.net === undefined ? {} : { net: netPlan.net }),
    logMaxSize: options.logMaxSize ?? defaultLogMaxSize, logMaxFiles: options.logMaxFiles ?? defaultLogMaxFiles, runtime: options.runtime ?? 'berth',
    resources, ...(options.cgroupParent === undefined ? {} : { cgroupParent: normalizeCgroupParent(options.cgroupParent) }),
  };
  const noNewPrivileges = securityOpt.some((o) => /^no-new-privileges(?::true|=true)?$/.test(o));
  // Refused before anything is made when the container lacks the namespace that keeps one.
  checkSysctls(config.sysctls ?? {}, containerNamespaces(config.networkMode).map((type) => ({ type })));
  return { id, image, exec, config, netPlan, noNewPrivileges, oci: ociResources(resources) };
}

/** Reserve: the record, named (a random name when none was given, as docker picks one). */
function reserve(ctx: EngineContext, r: Resolved, options: CreateOptions, undo: UndoStack): string {
  let name = options.name?.replace(/^\//, '');
  for (let attempt = 0; ; attempt++) {
    const candidate = name ?? randomName(attempt);
    try {
      // One transaction: one commit instead of two.
      ctx.deps.db.transaction(() => {
        ctx.records.insert({ id: r.id, name: candidate, imageId: r.image.id, imageName: options.image, created: new Date().toISOString(), config: r.config });
        // Its owner is this berth process: if it dies half way, the container shows as dead
        // and rm or system prune cleans up after it.
        ctx.records.update(r.id, ownedByMe());
      });
      name = candidate;
      break;
    } catch (err) {
      if (!(err instanceof AlreadyExistsError) || options.name !== undefined || attempt > 20) throw err;
    }
  }
  undo.push('the container record', () => ctx.records.delete(r.id));
  trace('record inserted');
  return name;
}

/**
 * Makes the container's directory with the files bound over the image's /etc. Synchronous,
 * a departure from STYLE.md §2 that `berth run` pays for once per container: a dozen small
 * calls that each take microseconds, where awaiting each through libuv's threadpool took
 * about 3 ms in all.
 */
function makeDir(ctx: EngineContext, dir: string, hostname: string, etc: { hosts: string; resolvConf: string }): void {
  // recursive only so that an existing directory is no error (the store root exists: the
  // database is in it).
  mkdirSync(ctx.deps.layout.containersDir(), { recursive: true, mode: 0o711 });
  mkdirSync(dir, { mode: 0o710 });
  mkdirSync(join(dir, 'rootfs'), { mode: 0o755 });
  writeFileSync(join(dir, 'hostname'), hostnameFile(hostname));
  writeFileSync(join(dir, 'hosts'), etc.hosts);
  writeFileSync(join(dir, 'resolv.conf'), etc.resolvConf);
}

/** What the prepare phase made. */
interface Prepared {
  readonly dir: string;
  readonly config: ContainerConfig;
  readonly mounts: MountInput[];
  readonly rootfs: ReturnType<EngineContext['snapshots']['prepare']>;
  readonly etc: Promise<[string | undefined, string | undefined]>;
  /** The network being set up (berth-net, another process): the host ports to hold. */
  readonly networkReady: Promise<string[]>;
}

/** Prepare: directory, writable layer, lease, network set up in the background, volumes. */
async function prepare(ctx: EngineContext, r: Resolved, undo: UndoStack): Promise<Prepared> {
  const { id } = r;
  const dir = ctx.dir(id);
  undo.push('the container directory', () => rm(dir, { recursive: true, force: true, maxRetries: 3 }));
  // As recorded by reserve: what the teardown needs (its id and network mode) is there.
  const record = ctx.records.byId(id);
  const attachments = ctx.net.lease(id, r.netPlan);
  undo.push('the network', async () => {
    if (record !== undefined) await ctx.net.down(record, { release: true });
  });
  trace('address leased');
  makeDir(ctx, dir, r.config.hostname, ctx.net.etcFiles(r.config.hostname, r.netPlan, attachments));
  const rootfs = ctx.snapshots.prepare(id, r.image.layers);
  // The image's passwd and group are read on the threadpool while the network is made.
  const etc = Promise.all([readImageFile(rootfs.lowers, 'etc/passwd'), readImageFile(rootfs.lowers, 'etc/group')]);
  etc.catch(() => undefined); // awaited by the spec phase, which reports its error
  const networkReady = ctx.net.up(id, r.config);
  networkReady.catch(() => undefined); // awaited by launch, which reports its error
  // The teardown (registered above) runs after the setup has finished, so it finds what it made.
  undo.push('the network setup', async () => {
    await networkReady.catch(() => undefined); // its error is the create's, thrown already
  });
  // A container in another's network namespace shares its hosts and resolv.conf, as docker's does.
  const peer = r.netPlan.peer;
  const etcDir = peer === undefined ? dir : ctx.dir(peer.record.id);
  const mounts: MountInput[] = [
    { type: 'bind', source: join(etcDir, 'resolv.conf'), destination: '/etc/resolv.conf' },
    { type: 'bind', source: join(dir, 'hostname'), destination: '/etc/hostname' },
    { type: 'bind', source: join(etcDir, 'hosts'), destination: '/etc/hosts' },
  ];
  const config = await resolveVolumes(ctx, r, mounts, undo);
  return { dir, config, mounts, rootfs, etc, networkReady };
}

/** Named and anonymous volumes made for the mounts (the image's VOLUMEs that no mount covers too). */
async function resolveVolumes(ctx: EngineContext, r: Resolved, mounts: MountInput[], undo: UndoStack): Promise<ContainerConfig> {
  const covered = new Set(r.config.mounts.map((m) => m.destination));
  const requests: MountRequest[] = [
    ...r.config.mounts,
    ...Object.keys(r.exec.Volumes ?? {}).filter((d) => !covered.has(d)).map((d): MountRequest => ({ type: 'volume', name: '', destination: d, readOnly: false })),
  ];
  const resolved: MountRequest[] = [];
  for (const m of requests) {
    if (m.type === 'volume') {
      const volume = await ctx.volumes.create({ name: m.name === '' ? undefined : m.name, anonymous: m.name === '' });
      resolved.push({ ...m, name: volume.name });
      mounts.push({ type: 'bind', source: volume.mountpoint, destination: m.destination, readOnly: m.readOnly });
    } else {
      resolved.push(m);
      if (m.type === 'bind') mounts.push({ type: 'bind', source: m.source, destination: m.destination, readOnly: m.readOnly });
      else mounts.push({ type: 'tmpfs', destination: m.destination, options: m.options });
    }
  }
  const config = { ...r.config, mounts: resolved };
  if (requests.some((m) => m.type === 'volume')) {
    // Only volumes change what was recorded (their names). Their undo goes with the
    // record's: a volume no other container uses goes once the record is gone.
    ctx.records.updateConfig(r.id, config);
    const record = ctx.records.byId(r.id);
    undo.push('the anonymous volumes', async () => {
      ctx.records.delete(r.id);
      if (record !== undefined) await ctx.removeAnonymousVolumes(record);
    });
  }
  return config;
}

/** Spec: config.json from buildSpec and the caller's adjusters; hard limits checked. */
async function spec(ctx: EngineContext, r: Resolved, p: Prepared, options: CreateOptions): Promise<RuntimeSpec> {
  const [passwd, group] = await p.etc;
  const { config } = p;
  const user = resolveUser(config.user === '' ? '0' : config.user, passwd, group);
  const hostCaps = hostCapabilities();
  const joinNet = ctx.net.joinPath(r.id, r.netPlan);
  const built = buildSpec({
    rootfs: join(p.dir, 'rootfs'), image: r.exec, command: options.command, entrypoint: options.entrypoint, env: config.env,
    hostEnv: options.hostEnv, workdir: options.workdir, user, hostname: config.hostname, tty: config.tty, readOnly: config.readonlyRootfs,
    capAdd: config.capAdd, capDrop: config.capDrop, privileged: config.privileged, noNewPrivileges: r.noNewPrivileges,
    rlimits: config.ulimits.map((u) => ({ type: u.name, soft: u.soft, hard: u.hard })), mounts: p.mounts,
    cgroupsPath: await ctx.deps.cgroups.cgroupsPath(r.id, config.cgroupParent), hostCapabilities: hostCaps, resources: r.oci.resources, devices: r.oci.devices,
    namespaces: containerNamespaces(config.networkMode), ...(config.sysctls === undefined ? {} : { sysctl: config.sysctls }),
    joinNamespaces: joinNet === undefined ? {} : { network: joinNet },
  });
  const result = adjustSpec(built, options.specAdjusters ?? [], { id: r.id, dir: p.dir });
  checkHardLimits(result, hostCaps);
  trace('spec built');
  // Synchronous, like the rest of the directory (makeDir).
  writeFileSync(join(p.dir, 'config.json'), `${JSON.stringify(result, null, 2)}\n`);
  return result;
}

/** Without CAP_SYS_RESOURCE nothing can raise a hard limit: say so now, by name. */
function checkHardLimits(spec: RuntimeSpec, hostCaps: readonly string[]): void {
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
}

/** Launch: the backend creates the task; the record moves to "created" by compare-and-set. */
async function launch(ctx: EngineContext, r: Resolved, p: Prepared, runtimeSpec: RuntimeSpec, options: CreateOptions, undo: UndoStack): Promise<void> {
  const { id } = r;
  const holdPorts = await p.networkReady;
  trace('network set up');
  const backend = ctx.backend(p.config.runtime);
  let task: TaskRef = { id, dir: p.dir, pid: 0, pidStart: '', monitorPid: 0, cgroupParent: p.config.cgroupParent };
  undo.push('the container\'s processes', () => discardTask(ctx, backend.name, task));
  const created = await backend.create({
    id, dir: p.dir, spec: runtimeSpec, rootfsPath: join(p.dir, 'rootfs'), rootfs: [p.rootfs], cgroupParent: p.config.cgroupParent,
    stdio: { logPath: ctx.logPath(id), logMaxSize: p.config.logMaxSize, logMaxFiles: p.config.logMaxFiles, tty: p.config.tty, stdin: p.config.openStdin },
    again: false, init: p.config.init, holdPorts, exitCommand: exitCommand(ctx, id, p.config),
  });
  trace('launched');
  const pidStart = processStartTime(created.pid) ?? '';
  task = { ...task, pid: created.pid, pidStart, monitorPid: created.monitorPid };
  for (const w of created.warnings) options.onWarning?.(w);
  const done = ctx.records.compareAndSet(id, ['creating'], { state: 'created', pid: created.pid, pidStart, monitorPid: created.monitorPid, ownerPid: 0, ownerStart: '' });
  if (!done) throw new FailedPreconditionError(`Container ${id} was removed while it was being created`);
}

/**
 * docker create: the container's directory, writable layer, config.json, network and
 * task, its first process waiting for start. Nothing is left behind when it fails.
 */
export async function createContainer(ctx: EngineContext, options: CreateOptions): Promise<ContainerView> {
  const r = await resolve(ctx, options);
  const undo = new UndoStack();
  await undo.run(async () => {
    reserve(ctx, r, options, undo);
    const p = await prepare(ctx, r, undo);
    const runtimeSpec = await spec(ctx, r, p, options);
    await launch(ctx, r, p, runtimeSpec, options, undo);
  }, (w) => (options.onWarning ?? ((m: string) => ctx.warn(m)))(w));
  return ctx.now(r.id);
}

/** The namespaces a container gets of its own: all of docker's, the network one but with --network host. */
function containerNamespaces(networkMode: string): LinuxNamespaceType[] {
  return networkMode === 'host' ? ['pid', 'ipc', 'uts', 'mount', 'cgroup'] : ['pid', 'network', 'ipc', 'uts', 'mount', 'cgroup'];
}

