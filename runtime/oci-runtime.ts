/**
 * berth as an OCI runtime (runtime.md "Operations"), with runc's command line: create,
 * start, state, kill, delete, exec, features. A container is a bundle (config.json and its
 * root) and a state directory under the runtime root (`--root`, default /run/berth-oci);
 * create runs berth-helper directly with the caller's stdio, leaves the container's process
 * waiting on the exec fifo, and returns; start opens the fifo. As with runc, the process is
 * reparented to the caller's subreaper (or init) and nobody records its exit status.
 */
import { mkdir, open, readFile, rm, unlink, writeFile, rename } from 'node:fs/promises';
import { constants as fsConstants } from 'node:fs';
import { basename, dirname, isAbsolute, join, resolve } from 'node:path';
import { CgroupManager, applyDeviceRules } from '../cgroups/index.js';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import { loadFsx } from '../common/sys/fsx.js';
import { pollUntil } from '../common/poll.js';
import { runtimeSpecVersion, type RuntimeFeatures, type RuntimeSpec, type RuntimeState } from '../oci/index.js';
import { processStartTime, sameProcess } from './containers.js';
import { parseSignal } from './engine.js';
import { findNativePrograms, runCreateHelper, runExec, type NativePrograms } from './native.js';
import { cgroupView } from './cgroups.js';
import { hostCapabilities } from './host.js';
import { buildExecPlan, buildPlan, capabilityNumbers, namespaceFlags } from './plan.js';

/** Default runtime root (runc's is /run/runc). */
export const defaultOciRoot = '/run/berth-oci';

/** What berth keeps per container in `<root>/<id>/state.json`. */
interface OciState {
  readonly id: string;
  readonly bundle: string;
  readonly pid: number;
  readonly pidStart: string;
  readonly created: string;
  readonly cgroupParent: string;
  readonly cgroupLeaf: string;
  readonly annotations: Readonly<Record<string, string>>;
}

const S_IFIFO = 0o010000;

function validId(id: string): string {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.+-]{0,127}$/.test(id)) {
    throw new InvalidArgumentError(`Invalid container id "${id}": use letters, digits, "_", ".", "+" and "-"`);
  }
  return id;
}

/** The OCI runtime operations over one runtime root. */
export class OciRuntime {
  readonly #root: string;
  #native: NativePrograms | undefined;

  constructor(root: string = defaultOciRoot, native?: NativePrograms) {
    this.#root = root;
    this.#native = native;
  }

  #programs(): NativePrograms {
    this.#native ??= findNativePrograms();
    return this.#native;
  }

  #dir(id: string): string {
    return join(this.#root, validId(id));
  }

  async #load(id: string): Promise<OciState> {
    const text = await readFile(join(this.#dir(id), 'state.json'), 'utf8').catch((err: unknown) => {
      if ((err as { code?: string }).code === 'ENOENT') throw new NotFoundError(`container "${id}" does not exist`);
      throw err;
    });
    return JSON.parse(text) as OciState;
  }

  /** runtime.md "State": creating, created (waiting on the exec fifo), running, stopped. */
  async state(id: string): Promise<RuntimeState> {
    const s = await this.#load(id);
    const alive = sameProcess(s.pid, s.pidStart);
    const fifoWaiting = alive && (await readFile(join(this.#dir(id), 'started'), 'utf8').catch(() => undefined)) === undefined;
    const status = !alive ? 'stopped' : fifoWaiting ? 'created' : 'running';
    return {
      ociVersion: runtimeSpecVersion, id: s.id, status, ...(alive ? { pid: s.pid } : { pid: 0 }), bundle: s.bundle,
      ...(Object.keys(s.annotations).length === 0 ? {} : { annotations: s.annotations }),
    };
  }

  /** runtime.md "create": everything but the user's program. */
  async create(id: string, options: { bundle: string; pidFile?: string | undefined; consoleSocket?: string | undefined }): Promise<number> {
    const dir = this.#dir(id);
    const bundle = resolve(options.bundle);
    const spec = JSON.parse(await readFile(join(bundle, 'config.json'), 'utf8').catch((err: unknown) => {
      throw new NotFoundError(`Cannot read ${join(bundle, 'config.json')}: ${err instanceof Error ? err.message : String(err)}`);
    })) as RuntimeSpec;
    if (spec.root === undefined) throw new InvalidArgumentError('config.json has no root');
    const rootfs = isAbsolute(spec.root.path) ? spec.root.path : join(bundle, spec.root.path);
    if (spec.process?.terminal === true && options.consoleSocket === undefined) {
      throw new InvalidArgumentError('process.terminal is set: a --console-socket is required');
    }
    // Everything that can be refused is checked before anything is made: a refused create
    // leaves no state directory behind (runtime.md "create": on error, no container).
    const cgroupsPath = ociCgroupsPath(spec.linux?.cgroupsPath, id);
    checkCapabilities(spec, hostCapabilities());
    const manager = await CgroupManager.open({ parent: dirname(cgroupsPath) });
    await mkdir(this.#root, { recursive: true, mode: 0o700 });
    try {
      await mkdir(dir, { mode: 0o700 });
    } catch (err) {
      if ((err as { code?: string }).code === 'EEXIST') throw new AlreadyExistsError(`container with id "${id}" already exists`);
      throw err;
    }
    let cgroup: Awaited<ReturnType<CgroupManager['create']>> | undefined;
    try {
      cgroup = await manager.create(basename(cgroupsPath));
      await applyDeviceRules(cgroup.paths, spec.linux?.resources?.devices ?? []);
      // config-linux.md "resources": the bundle's limits (memory, cpu, pids, blkio, ...)
      // are written before any process is in the cgroup.
      for (const w of cgroup.apply(spec.linux?.resources ?? {})) process.stderr.write(`WARNING: ${w}\n`);
      const fifo = join(dir, 'exec.fifo');
      loadFsx().mknod(fifo, S_IFIFO | 0o600, 0, 0);
      const view = cgroupView(manager.layout);
      const plan = buildPlan({
        spec, rootfs, execFifo: fifo, cgroup: cgroup.joinTargets(), cgroups: view, consoleSocket: options.consoleSocket,
      });
      const pid = await runCreateHelper(this.#programs(), plan);
      const state: OciState = {
        id, bundle, pid, pidStart: processStartTime(pid) ?? '', created: new Date().toISOString(), cgroupParent: dirname(cgroupsPath), cgroupLeaf: basename(cgroupsPath),
        annotations: spec.annotations ?? {},
      };
      await writeAtomically(join(dir, 'state.json'), JSON.stringify(state));
      if (options.pidFile !== undefined) await writeAtomically(options.pidFile, String(pid));
      return pid;
    } catch (err) {
      // The create's own error is what the caller needs; an undo that fails too is said with it.
      if (cgroup !== undefined) {
        await cgroup.remove().catch((why: unknown) => {
          process.stderr.write(`WARNING: Could not remove the cgroup of container ${id}: ${why instanceof Error ? why.message : String(why)}\n`);
        });
      }
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** runtime.md "start": runs the user's program. */
  async start(id: string): Promise<void> {
    const state = await this.state(id);
    if (state.status !== 'created') throw new FailedPreconditionError(`cannot start a container that is ${state.status}`);
    const dir = this.#dir(id);
    const fh = await open(join(dir, 'exec.fifo'), fsConstants.O_RDONLY);
    try {
      await fh.read(Buffer.alloc(1), 0, 1, null);
    } finally {
      await fh.close();
    }
    await writeFile(join(dir, 'started'), new Date().toISOString());
    await unlink(join(dir, 'exec.fifo')).catch((err: unknown) => {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    });
  }

  /** runtime.md "kill". */
  async kill(id: string, signal = 'SIGTERM', options: { all?: boolean } = {}): Promise<void> {
    const s = await this.#load(id);
    const state = await this.state(id);
    if (state.status !== 'created' && state.status !== 'running') throw new FailedPreconditionError(`cannot kill a container that is ${state.status}`);
    const n = parseSignal(signal);
    // runc kill --all: every process of the container, found through its cgroup.
    const pids = options.all === true
      ? await (await (await CgroupManager.open({ parent: s.cgroupParent })).attach(s.cgroupLeaf)).pids()
      : [s.pid];
    for (const pid of pids) {
      try {
        process.kill(pid, n);
      } catch (err) {
        if ((err as { code?: string }).code !== 'ESRCH') throw err;
      }
    }
  }

  /** runtime.md "delete": only a stopped container, unless `force`. */
  async delete(id: string, options: { force?: boolean } = {}): Promise<void> {
    const s = await this.#load(id);
    const state = await this.state(id);
    if (state.status !== 'stopped') {
      if (options.force !== true) throw new FailedPreconditionError(`cannot delete container ${id} that is not stopped: ${state.status}`);
      process.kill(s.pid, 'SIGKILL');
      await pollUntil(() => !sameProcess(s.pid, s.pidStart), { timeoutMs: 5000, initialDelayMs: 10, maxDelayMs: 10 });
    }
    const manager = await CgroupManager.open({ parent: s.cgroupParent });
    const leaf = await manager.attach(s.cgroupLeaf).catch((err: unknown) => {
      if (err instanceof NotFoundError) return undefined;
      throw err;
    });
    await leaf?.remove();
    await rm(this.#dir(id), { recursive: true, force: true });
  }

  /** runc exec: a process given as process.json (--process) or by args; resolves with its status. */
  async exec(id: string, options: {
    process?: RuntimeSpec['process'] | undefined; args?: readonly string[] | undefined; tty?: boolean | undefined; cwd?: string | undefined;
    env?: readonly string[] | undefined; detach?: boolean | undefined; consoleSocket?: string | undefined; pidFile?: string | undefined;
  }): Promise<number> {
    const s = await this.#load(id);
    const state = await this.state(id);
    if (state.status !== 'running' && state.status !== 'created') throw new FailedPreconditionError(`cannot exec in a container that is ${state.status}`);
    const spec = JSON.parse(await readFile(join(s.bundle, 'config.json'), 'utf8')) as RuntimeSpec;
    const base = options.process ?? spec.process;
    if (base === undefined) throw new InvalidArgumentError('No process to exec');
    const proc = {
      ...base,
      ...(options.args !== undefined && options.args.length > 0 ? { args: [...options.args] } : {}),
      ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
      ...(options.env !== undefined && options.env.length > 0 ? { env: [...(base.env ?? []), ...options.env] } : {}),
      ...(options.tty !== undefined ? { terminal: options.tty } : {}),
    };
    const namespaces = (spec.linux?.namespaces ?? []).filter((n) => n.path === undefined || n.path === '').map((n) => n.type);
    const manager = await CgroupManager.open({ parent: s.cgroupParent });
    const cgroup = await manager.attach(s.cgroupLeaf);
    const plan = buildExecPlan({
      process: proc, pid: s.pid, namespaces, cgroup: cgroup.joinTargets(), consoleSocket: options.consoleSocket, detach: options.detach,
    });
    const run = await runExec(this.#programs(), plan, { stdin: true, detach: options.detach === true });
    if (options.pidFile !== undefined) await writeAtomically(options.pidFile, String(run.pid));
    return run.status;
  }
}

/** Writes `text` to a temporary name and renames it into place. */
async function writeAtomically(path: string, text: string): Promise<void> {
  await writeFile(`${path}.tmp`, text);
  await rename(`${path}.tmp`, path);
}

/** features.md: what berth's runtime supports. */
export function ociFeatures(): RuntimeFeatures {
  return {
    ociVersionMin: '1.0.0',
    ociVersionMax: runtimeSpecVersion,
    hooks: [],
    mountOptions: [
      'async', 'atime', 'bind', 'defaults', 'dev', 'diratime', 'dirsync', 'exec', 'mand', 'noatime', 'nodev', 'nodiratime', 'noexec',
      'nomand', 'norelatime', 'nostrictatime', 'nosuid', 'private', 'rbind', 'relatime', 'remount', 'ro', 'rprivate', 'rshared',
      'rslave', 'runbindable', 'rw', 'shared', 'slave', 'strictatime', 'suid', 'sync', 'unbindable',
    ],
    linux: {
      namespaces: Object.keys(namespaceFlags).filter((n) => n !== 'user' && n !== 'time'),
      capabilities: Object.keys(capabilityNumbers),
      cgroup: { v1: true, v2: true, systemd: false, systemdUser: false },
    },
  } as RuntimeFeatures;
}

/**
 * The cgroup path of a bundle (config-linux.md "cgroupsPath"): an absolute one is taken
 * from the cgroup mount roots; a relative one is under berth's own location for OCI
 * containers, /berth-oci (the spec leaves it to the runtime; runc takes its own cgroup,
 * which here would be inside the host supervisor's); none gives /berth-oci/<id>. A leaf
 * right under the root is refused: berth makes no cgroup among the host's own.
 */
export function ociCgroupsPath(value: string | undefined, id: string): string {
  if (value === undefined || value === '') return `/berth-oci/${id}`;
  const path = value.startsWith('/') ? value : `/berth-oci/${value}`;
  const names = path.split('/').slice(1);
  if (names.some((n) => n === '' || n === '.' || n === '..')) {
    throw new InvalidArgumentError(`Invalid cgroupsPath "${value}": it has an empty, "." or ".." component`);
  }
  if (names.length < 2) {
    throw new InvalidArgumentError(`Invalid cgroupsPath "${value}": berth makes no cgroup directly under the root of the hierarchy`, {
      hint: 'Give a path with a parent, e.g. "/mine/' + (names[0] ?? id) + '", or a relative one (under /berth-oci)',
    });
  }
  return path;
}

/**
 * A capability the host's bounding set lacks cannot be given: refused at create, as runc
 * refuses it, instead of a container that dies in capset(2).
 */
export function checkCapabilities(spec: RuntimeSpec, host: readonly string[]): void {
  const caps = spec.process?.capabilities;
  if (caps === undefined) return;
  const have = new Set(host);
  for (const set of ['bounding', 'effective', 'permitted', 'inheritable', 'ambient'] as const) {
    for (const cap of caps[set] ?? []) {
      if (!have.has(cap)) {
        throw new InvalidArgumentError(`process.capabilities.${set} has ${cap}, which this host's bounding set lacks`, {
          hint: 'berth cannot give a capability it does not hold itself: remove it from config.json',
        });
      }
    }
  }
}
