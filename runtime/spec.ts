/**
 * Builds the OCI runtime config.json that docker would give a container: the image's
 * execution parameters combined with the run options by docker's rules (moby
 * daemon/commit.go `merge`, daemon/create.go, daemon/oci_linux.go `createSpec`), on top of
 * the defaults in defaults.ts. Pure: every host fact (rootfs path, resolved user, namespace
 * paths, host environment) comes in through {@link SpecInput}.
 */
import { posix } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import { maxId, type ResolvedUser } from './user.js';
import {
  runtimeSpecVersion,
  type ImageExecConfig, type LinuxCapabilities, type LinuxDeviceCgroup, type LinuxIDMapping, type LinuxNamespace, type LinuxNamespaceType,
  type LinuxDevice, type LinuxResources, type LinuxSeccomp, type Mount, type POSIXRlimit, type Process, type RuntimeSpec,
} from '../oci/index.js';
import {
  allCapabilities, allCapabilitiesKeyword, canonicalCapability, defaultCapabilities, defaultDeviceCgroupRules,
  defaultMaskedPaths, defaultMounts, defaultNamespaces, defaultPathEnv, defaultReadonlyPaths, defaultTmpfsOptions,
  rlimitTypes, writableUnderReadOnly,
} from './defaults.js';

/**
 * The ociVersion written into config.json: 1.0.2, as docker writes it ("1.0.2-dev"), since
 * everything berth puts there exists in 1.0 and older runtimes (crun 1.8 here) refuse a
 * version they do not know.
 */
export const configVersion = '1.0.2';

export { maxId, parseUserSpec, resolveUser, type ResolvedUser, type UserSpec } from './user.js';

/** A bind mount whose host path is already resolved (-v /host:/ctr[:ro], --mount type=bind). */
export interface BindMountInput {
  readonly type: 'bind';
  /** Absolute host path. */
  readonly source: string;
  /** Absolute path in the container. */
  readonly destination: string;
  readonly readOnly?: boolean | undefined;
}

/** A tmpfs mount (--tmpfs /ctr[:options]); options are added to docker's noexec,nosuid,nodev. */
export interface TmpfsMountInput {
  readonly type: 'tmpfs';
  readonly destination: string;
  readonly options?: readonly string[] | undefined;
}

/** A mount asked for on the command line. */
export type MountInput = BindMountInput | TmpfsMountInput;

/** A --ulimit: `type` is `nofile`, `NOFILE` or `RLIMIT_NOFILE`. */
export interface RlimitInput {
  readonly type: string;
  readonly soft: number;
  readonly hard: number;
}

/** Everything {@link buildSpec} needs; optional fields default as docker's do. */
export interface SpecInput {
  /** Absolute path of the container's root filesystem (`root.path`). */
  readonly rootfs: string;
  /** The image config's `config` object (image-spec config.md), if it has one. */
  readonly image?: ImageExecConfig | undefined;
  /** Arguments after the image name; when non-empty they replace the image's Cmd. */
  readonly command?: readonly string[] | undefined;
  /** --entrypoint: replaces the image's Entrypoint and drops its Cmd; '' clears both. */
  readonly entrypoint?: string | undefined;
  /** -e values: `KEY=VALUE`, or a bare `KEY` taken from {@link hostEnv} (unset when absent there). */
  readonly env?: readonly string[] | undefined;
  /** The environment bare `KEY` entries are looked up in (the CLI's process.env). */
  readonly hostEnv?: Readonly<Record<string, string | undefined>> | undefined;
  /** -w; else the image's WorkingDir; else `/`. */
  readonly workdir?: string | undefined;
  /** The user to run as; resolve `-u` or the image's User with {@link resolveUser}. */
  readonly user: ResolvedUser;
  /** Set in a new UTS namespace, and as HOSTNAME in the environment. */
  readonly hostname?: string | undefined;
  readonly domainname?: string | undefined;
  readonly tty?: boolean | undefined;
  readonly consoleSize?: { readonly height: number; readonly width: number } | undefined;
  /** --read-only: the root filesystem and the default /sys mounts read-only. */
  readonly readOnly?: boolean | undefined;
  readonly capAdd?: readonly string[] | undefined;
  readonly capDrop?: readonly string[] | undefined;
  /** The capabilities the host can grant (docker's `GetAllCapabilities`); all of Linux's by default. */
  readonly hostCapabilities?: readonly string[] | undefined;
  /** All capabilities, every device allowed, no masked or read-only paths, no seccomp, writable /sys. */
  readonly privileged?: boolean | undefined;
  readonly noNewPrivileges?: boolean | undefined;
  readonly rlimits?: readonly RlimitInput[] | undefined;
  readonly mounts?: readonly MountInput[] | undefined;
  /** --shm-size in bytes; 64 MiB by default. */
  readonly shmSize?: number | undefined;
  /** Replace the default masked paths (also when privileged). */
  readonly maskedPaths?: readonly string[] | undefined;
  /** Replace the default read-only paths (also when privileged). */
  readonly readonlyPaths?: readonly string[] | undefined;
  /** Namespaces to create; {@link defaultNamespaces} by default. */
  readonly namespaces?: readonly LinuxNamespaceType[] | undefined;
  /** Namespaces to join, by the absolute path of a namespace file (`/run/berth/netns/ID`). */
  readonly joinNamespaces?: Readonly<Partial<Record<LinuxNamespaceType, string>>> | undefined;
  readonly uidMappings?: readonly LinuxIDMapping[] | undefined;
  readonly gidMappings?: readonly LinuxIDMapping[] | undefined;
  readonly cgroupsPath?: string | undefined;
  /** Limits; device rules given here come after docker's defaults. */
  readonly resources?: LinuxResources | undefined;
  /** Device nodes to create besides the default ones (--device). */
  readonly devices?: readonly LinuxDevice[] | undefined;
  readonly sysctl?: Readonly<Record<string, string>> | undefined;
  /** A seccomp profile; dropped when privileged. */
  readonly seccomp?: LinuxSeccomp | undefined;
  /** Dropped when privileged (docker's "unconfined"). */
  readonly apparmorProfile?: string | undefined;
  /** -1000 to 1000; 0 by default, which docker also writes. */
  readonly oomScoreAdj?: number | undefined;
  readonly annotations?: Readonly<Record<string, string>> | undefined;
}

/**
 * The config.json for a container, by docker's rules. Throws {@link InvalidArgumentError}
 * for a value docker would refuse: no command, an unknown capability or ulimit, a soft limit
 * above its hard limit, an id above 2^31-1, a relative path.
 */
export function buildSpec(input: SpecInput): RuntimeSpec {
  const namespaces = buildNamespaces(input);
  const privateUts = namespaces.some((ns) => ns.type === 'uts' && ns.path === undefined);
  const privileged = input.privileged === true;
  // Privileged containers see everything (moby `withMounts`), unless the paths are given.
  const maskedPaths = input.maskedPaths ?? (privileged ? [] : defaultMaskedPaths);
  const readonlyPaths = input.readonlyPaths ?? (privileged ? [] : defaultReadonlyPaths);
  const deviceRules: readonly LinuxDeviceCgroup[] = privileged ? [{ allow: true, access: 'rwm' }] : defaultDeviceCgroupRules;
  return {
    ociVersion: configVersion,
    process: buildProcess(input),
    root: { path: input.rootfs, ...(input.readOnly === true ? { readonly: true } : {}) },
    // A hostname needs a UTS namespace of its own: docker drops it for --uts=host.
    ...(privateUts && input.hostname !== undefined ? { hostname: input.hostname } : {}),
    ...(privateUts && input.domainname !== undefined ? { domainname: input.domainname } : {}),
    mounts: buildMounts(input),
    ...(input.annotations === undefined ? {} : { annotations: input.annotations }),
    linux: {
      namespaces,
      ...(input.uidMappings === undefined ? {} : { uidMappings: input.uidMappings }),
      ...(input.gidMappings === undefined ? {} : { gidMappings: input.gidMappings }),
      ...(input.cgroupsPath === undefined ? {} : { cgroupsPath: input.cgroupsPath }),
      ...(input.devices === undefined || input.devices.length === 0 ? {} : { devices: input.devices }),
      resources: {
        ...input.resources,
        // moby daemon/oci_linux.go `WithDevices`: privileged containers may use every device.
        devices: [...deviceRules, ...(input.resources?.devices ?? [])],
      },
      ...(maskedPaths.length === 0 ? {} : { maskedPaths }),
      ...(readonlyPaths.length === 0 ? {} : { readonlyPaths }),
      ...(input.sysctl === undefined ? {} : { sysctl: input.sysctl }),
      ...(input.seccomp === undefined || privileged ? {} : { seccomp: input.seccomp }),
    },
  };
}

function buildProcess(input: SpecInput): Process {
  checkUser(input.user);
  const capabilities = buildCapabilities(input);
  const rlimits = buildRlimits(input.rlimits ?? []);
  const oomScoreAdj = input.oomScoreAdj ?? 0;
  if (!Number.isInteger(oomScoreAdj) || oomScoreAdj < -1000 || oomScoreAdj > 1000) {
    throw new InvalidArgumentError(`Invalid OOM score adjustment ${oomScoreAdj}: it must be an integer from -1000 to 1000`);
  }
  const tty = input.tty === true;
  return {
    ...(tty ? { terminal: true } : {}),
    ...(tty && input.consoleSize !== undefined ? { consoleSize: input.consoleSize } : {}),
    user: { uid: input.user.uid, gid: input.user.gid, additionalGids: input.user.additionalGids },
    args: buildArgs(input),
    env: buildEnv(input),
    cwd: buildCwd(input),
    capabilities,
    ...(rlimits.length === 0 ? {} : { rlimits }),
    ...(input.noNewPrivileges === true ? { noNewPrivileges: true } : {}),
    ...(input.apparmorProfile === undefined || input.privileged === true ? {} : { apparmorProfile: input.apparmorProfile }),
    oomScoreAdj,
  };
}

/** What {@link containerCommand} combines. */
export interface CommandInput {
  readonly image?: { readonly Entrypoint?: readonly string[] | null | undefined; readonly Cmd?: readonly string[] | null | undefined } | undefined;
  /** The command after the image name; empty or undefined for none. */
  readonly command?: readonly string[] | undefined;
  /** --entrypoint: "" clears the image's. */
  readonly entrypoint?: string | undefined;
}

/**
 * Entrypoint + Cmd as docker combines them (moby daemon/commit.go `merge`,
 * daemon/container.go `getEntrypointAndArgs`): a command replaces the image's Cmd;
 * --entrypoint replaces the image's Entrypoint and drops its Cmd. The one place that
 * decides "No command specified", for create (before anything is made) and the spec.
 */
export function containerCommand(input: CommandInput): { entrypoint: string[]; cmd: string[]; args: string[] } {
  const command = input.command ?? [];
  let entrypoint: readonly string[];
  let cmd: readonly string[];
  if (input.entrypoint !== undefined) {
    entrypoint = input.entrypoint === '' ? [] : [input.entrypoint];
    cmd = command;
  } else {
    entrypoint = input.image?.Entrypoint ?? [];
    cmd = command.length > 0 ? command : input.image?.Cmd ?? [];
  }
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    const why = input.entrypoint === '' ? '--entrypoint "" cleared the image\'s Entrypoint and Cmd' : 'the image has no Entrypoint or Cmd';
    throw new InvalidArgumentError(`No command specified: ${why}`, { hint: 'Give a command after the image name, or an --entrypoint' });
  }
  return { entrypoint: [...entrypoint], cmd: [...cmd], args };
}

function buildArgs(input: SpecInput): string[] {
  return containerCommand(input).args;
}

/**
 * docker's environment (moby daemon/container/container.go `CreateDaemonEnvironment`):
 * PATH, HOSTNAME and TERM=xterm with a tty, overridden by the user's -e values, then the
 * image's Env for the names the user did not set. A bare name the user gives that the host
 * environment lacks unsets it. Each name appears once, at its first place, with its last value.
 */
function buildEnv(input: SpecInput): string[] {
  const env = new Map<string, string>([['PATH', defaultPathEnv]]);
  if (input.hostname !== undefined) env.set('HOSTNAME', input.hostname);
  if (input.tty === true) env.set('TERM', 'xterm');
  const user = (input.env ?? []).map((entry) => resolveEnvEntry(entry, input.hostEnv));
  const userNames = new Set(user.map(([name]) => name));
  const image = (input.image?.Env ?? []).map((entry) => splitEnvEntry(entry)).filter(([name]) => !userNames.has(name));
  for (const [name, value] of [...user, ...image]) {
    if (value === undefined) env.delete(name);
    else env.set(name, value);
  }
  return [...env].map(([name, value]) => `${name}=${value}`);
}

function splitEnvEntry(entry: string): [string, string | undefined] {
  const eq = entry.indexOf('=');
  const name = eq < 0 ? entry : entry.slice(0, eq);
  if (name === '') {
    throw new InvalidArgumentError(`Invalid environment variable "${entry}": the name is empty`, { hint: 'Write it as NAME=VALUE' });
  }
  return [name, eq < 0 ? undefined : entry.slice(eq + 1)];
}

/**
 * A process's environment: `base` (KEY=VALUE entries) with `entries` set over it by key,
 * each `KEY=VALUE`, or a bare `KEY` taken from `hostEnv` and removed when absent there
 * (docker's -e for run and exec alike). The one rule for create's -e and exec's -e: the
 * host environment is always the front end's, given, never this process's own (behind an
 * API server, its environment is not the client's).
 */
export function mergeEnv(base: readonly string[], entries: readonly string[], hostEnv: SpecInput['hostEnv']): string[] {
  const env = new Map(base.map((e) => splitEnvEntry(e)));
  for (const entry of entries) {
    const [name, value] = resolveEnvEntry(entry, hostEnv);
    if (value === undefined) env.delete(name);
    else env.set(name, value);
  }
  return [...env].map(([name, value]) => (value === undefined ? name : `${name}=${value}`));
}

function resolveEnvEntry(entry: string, hostEnv: SpecInput['hostEnv']): [string, string | undefined] {
  const [name, value] = splitEnvEntry(entry);
  return [name, value ?? hostEnv?.[name]];
}

function buildCwd(input: SpecInput): string {
  // moby daemon/create.go: "the working directory '...' is invalid, it needs to be an absolute path".
  const dir = input.workdir !== undefined && input.workdir !== '' ? input.workdir : input.image?.WorkingDir ?? '';
  if (dir === '') return '/';
  if (!dir.startsWith('/')) {
    throw new InvalidArgumentError(`Invalid working directory "${dir}": it must be an absolute path`, { hint: 'Give a path that starts with "/", e.g. -w /app' });
  }
  return cleanPath(dir);
}

function cleanPath(path: string): string {
  const clean = posix.normalize(path);
  return clean.length > 1 && clean.endsWith('/') ? clean.slice(0, -1) : clean;
}

function checkUser(user: ResolvedUser): void {
  checkId('uid', user.uid);
  checkId('gid', user.gid);
  for (const gid of user.additionalGids) checkId('additional gid', gid);
}

function checkId(what: string, id: number): void {
  if (!Number.isInteger(id) || id < 0 || id > maxId) {
    throw new InvalidArgumentError(`Invalid ${what} ${id}: user and group ids must be from 0 to ${maxId}`);
  }
}

/**
 * Capability sets by moby daemon/pkg/oci/caps/utils.go `TweakCapabilities`: all of them when
 * privileged; with --cap-add ALL every one not dropped; with --cap-drop ALL only those added;
 * otherwise the defaults minus the dropped plus the added. Bounding, effective and permitted
 * are the same set; inheritable and ambient stay empty (moby after CVE-2022-24769).
 */
function buildCapabilities(input: SpecInput): LinuxCapabilities {
  const available = input.hostCapabilities ?? allCapabilities;
  let caps: readonly string[];
  if (input.privileged === true) {
    caps = available;
  } else {
    const drop = normalizeCapabilities(input.capDrop ?? [], 'drop', available);
    const add = normalizeCapabilities(input.capAdd ?? [], 'add', available);
    if (add.includes(allCapabilitiesKeyword)) caps = available.filter((c) => !drop.includes(c));
    else if (drop.includes(allCapabilitiesKeyword)) caps = add;
    else caps = [...defaultCapabilities.filter((c) => !drop.includes(c)), ...add];
  }
  const set = [...new Set(caps)];
  return { bounding: set, effective: set, permitted: set };
}

function normalizeCapabilities(names: readonly string[], verb: 'add' | 'drop', available: readonly string[]): string[] {
  return names.map((name) => {
    const cap = canonicalCapability(name);
    if (cap === undefined) {
      throw new InvalidArgumentError(`Cannot ${verb} capability "${name}": Linux has no such capability`, {
        hint: 'Use a name from capabilities(7), such as NET_ADMIN or CAP_NET_ADMIN, or ALL',
      });
    }
    if (verb === 'add' && cap !== allCapabilitiesKeyword && !available.includes(cap)) {
      throw new InvalidArgumentError(`Cannot add capability "${cap}": this host cannot grant it`, {
        hint: 'berth itself runs without it; run berth with more privileges, or do without the capability',
      });
    }
    return cap;
  });
}

/** Rlimits in config.md "POSIX process" form; a type given twice keeps its last value, like docker's --ulimit. */
function buildRlimits(list: readonly RlimitInput[]): POSIXRlimit[] {
  const byType = new Map<string, POSIXRlimit>();
  for (const limit of list) {
    const name = limit.type.toLowerCase().replace(/^rlimit_/, '');
    if (!rlimitTypes.includes(name)) {
      throw new InvalidArgumentError(`Cannot set ulimit "${limit.type}": Linux has no such resource limit`, {
        hint: `Use one of ${rlimitTypes.join(', ')}`,
      });
    }
    for (const value of [limit.soft, limit.hard]) {
      if (!Number.isSafeInteger(value) || value < 0) {
        throw new InvalidArgumentError(`Cannot set ulimit "${name}": ${value} is not a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`, {
          hint: 'Unlimited (-1) is not supported yet: give a number, or leave the limit out to inherit it',
        });
      }
    }
    if (limit.soft > limit.hard) {
      throw new InvalidArgumentError(`Cannot set ulimit "${name}": the soft limit ${limit.soft} is above the hard limit ${limit.hard}`, {
        hint: `Give soft:hard with soft <= hard, e.g. --ulimit ${name}=${limit.hard}:${limit.hard}`,
      });
    }
    byType.set(name, { type: `RLIMIT_${name.toUpperCase()}`, hard: limit.hard, soft: limit.soft });
  }
  return [...byType.values()];
}

/**
 * The mount list by moby daemon/oci_linux.go `withMounts`: the defaults a user mount does
 * not replace (a user /dev replaces everything under /dev too), then the user's mounts,
 * parents before children.
 */
function buildMounts(input: SpecInput): Mount[] {
  const user = (input.mounts ?? []).map(userMount);
  const destinations = new Set<string>();
  for (const m of user) {
    if (destinations.has(m.destination)) {
      throw new InvalidArgumentError(`Duplicate mount point "${m.destination}"`, { hint: 'Mount each container path once' });
    }
    destinations.add(m.destination);
  }
  // moby daemon/volumes.go `sortMounts`: fewer path components first, a stable sort.
  user.sort((a, b) => a.destination.split('/').length - b.destination.split('/').length);
  const userDev = destinations.has('/dev');
  const defaults = defaultMounts
    .filter((m) => !destinations.has(m.destination) && !(userDev && m.destination.startsWith('/dev/')))
    .map((m) => ({ ...m, options: defaultMountOptions(m, input) }));
  return [...defaults, ...user];
}

function defaultMountOptions(m: Mount, input: SpecInput): string[] {
  let options = [...(m.options ?? [])];
  if (m.destination === '/dev/shm' && input.shmSize !== undefined) {
    if (!Number.isSafeInteger(input.shmSize) || input.shmSize <= 0) {
      throw new InvalidArgumentError(`Invalid shm size ${input.shmSize}: it must be a positive number of bytes`);
    }
    options = [...options.filter((o) => !o.startsWith('size=')), `size=${input.shmSize}`];
  }
  if (input.readOnly === true && !writableUnderReadOnly.includes(m.destination) && !options.includes('ro')) options.push('ro');
  // Privileged containers get a writable /sys and cgroupfs (moby `withMounts`, `clearReadOnly`).
  if (input.privileged === true && (m.destination === '/sys' || m.type === 'cgroup')) options = options.filter((o) => o !== 'ro');
  return options;
}

function userMount(m: MountInput): Mount {
  const destination = checkDestination(m.destination);
  if (m.type === 'tmpfs') {
    return { destination, type: 'tmpfs', source: 'tmpfs', options: mergeMountOptions([...defaultTmpfsOptions, ...(m.options ?? [])]) };
  }
  if (!m.source.startsWith('/')) {
    throw new InvalidArgumentError(`Invalid bind mount source "${m.source}": it must be an absolute path on the host`, {
      hint: 'Give the host path from "/", e.g. -v "$PWD/data:/data"',
    });
  }
  return { destination, type: 'bind', source: m.source, options: ['rbind', ...(m.readOnly === true ? ['ro'] : []), 'rprivate'] };
}

function checkDestination(destination: string): string {
  if (!destination.startsWith('/')) {
    throw new InvalidArgumentError(`Invalid mount destination "${destination}": it must be an absolute path`, {
      hint: `Give the path in the container from "/", e.g. "/${destination}"`,
    });
  }
  const clean = cleanPath(destination);
  if (clean === '/') throw new InvalidArgumentError('Invalid mount destination "/": a mount cannot replace the container\'s root');
  return clean;
}

/** Options that set the same mount flag; the last one given wins (moby/sys/mount `MergeTmpfsOptions`). */
const optionGroups: readonly (readonly string[])[] = [
  ['ro', 'rw'], ['exec', 'noexec'], ['suid', 'nosuid'], ['dev', 'nodev'], ['sync', 'async'], ['atime', 'noatime'],
  ['diratime', 'nodiratime'], ['relatime', 'norelatime'], ['strictatime', 'nostrictatime'], ['mand', 'nomand'],
  ['shared', 'rshared', 'slave', 'rslave', 'private', 'rprivate', 'unbindable', 'runbindable'],
];

function mergeMountOptions(options: readonly string[]): string[] {
  const keyOf = (o: string): string => {
    const group = optionGroups.findIndex((g) => g.includes(o));
    if (group >= 0) return `flag:${group}`;
    const eq = o.indexOf('=');
    return eq < 0 ? o : `data:${o.slice(0, eq)}`;
  };
  const seen = new Set<string>();
  const kept: string[] = [];
  for (const option of [...options].reverse()) {
    const key = keyOf(option);
    if (option === 'defaults' || seen.has(key)) continue;
    seen.add(key);
    kept.unshift(option);
  }
  return kept;
}

const namespaceTypes: readonly LinuxNamespaceType[] = ['pid', 'network', 'mount', 'ipc', 'uts', 'user', 'cgroup', 'time'];

/**
 * The `namespaces` list: each type to create, with the path of one to join where given
 * (config-linux.md "Namespaces": the path must be absolute; a type may appear once).
 */
function buildNamespaces(input: SpecInput): LinuxNamespace[] {
  const create = input.namespaces ?? defaultNamespaces;
  const join = input.joinNamespaces ?? {};
  const types = [...create, ...namespaceTypes.filter((type) => join[type] !== undefined && !create.includes(type))];
  const seen = new Set<LinuxNamespaceType>();
  return types.map((type) => {
    if (seen.has(type)) throw new InvalidArgumentError(`Cannot create the ${type} namespace twice`, { hint: 'List each namespace type once' });
    seen.add(type);
    const path = join[type];
    if (path === undefined) {
      if (type === 'user' && (input.uidMappings === undefined || input.gidMappings === undefined)) {
        throw new InvalidArgumentError('Cannot create a user namespace without uid and gid mappings', { hint: 'Give uidMappings and gidMappings' });
      }
      return { type };
    }
    if (!path.startsWith('/')) {
      throw new InvalidArgumentError(`Cannot join the ${type} namespace at "${path}": the path must be absolute`, { hint: 'Use a path such as /proc/PID/ns/net' });
    }
    return { type, path };
  });
}
