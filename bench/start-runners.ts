/**
 * The container start benchmark's tools behind the pull benchmark's {@link Runner} interface:
 * each timed command starts a busybox container that runs `true` and removes it.
 *
 * The engines (a berth store, a private dockerd, a private podman store) are set up once and
 * shared by the rows that use them (`--network none` and default network). They reuse the pull
 * benchmark's runners for their lifecycle: {@link BerthRunner}, {@link DockerRunner} and
 * {@link PodmanRunner} set up the store or daemon, pull the image before timing, check it and
 * tear everything down; this module adds the `run` commands.
 */
import { createHash } from 'node:crypto';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { DockerRunner, dockerSocket } from './docker.js';
import { cgroupPids, CreatedPaths, findProcesses, hybridUnifiedMount, PrivateNetns, processesWithArg, removeCgroupTree } from './host.js';
import type { BenchImage } from './image.js';
import { PodmanRunner } from './podman.js';
import { CommandFailedError, check, lastLines, output, runCommand, sleep, stopPid, type CommandResult, type CommandSpec } from './proc.js';
import { BerthRunner, type Runner, type RunnerContext } from './runners.js';
import { removeTree } from './teardown.js';

/** What the start benchmark's engines and runners share. */
export interface StartContext {
  /** The run's scratch directory; each engine gets a subdirectory. */
  readonly work: string;
  /** `127.0.0.1:PORT` of the benchmark registry. */
  readonly registryHost: string;
  /** `127.0.0.1:PORT/library/busybox:latest`. */
  readonly ref: string;
  readonly image: BenchImage;
  readonly repoRoot: string;
  /** `BENCH_BASELINE`: another checkout whose berth gets rows of its own (Engines.baseline). */
  readonly baselineRoot?: string | undefined;
  /** This process's environment plus the private `CONTAINERS_REGISTRIES_CONF`. */
  readonly containersEnv: NodeJS.ProcessEnv;
  /** The OCI bundle for bare crun and runc (see busybox.ts). */
  readonly bundle: string;
  /** `berth-bench-PID`: prefix of the cgroup parents, netns name and runtime container ids. */
  readonly tag: string;
}

/** Something set up once, on first use, and torn down once at the end. */
abstract class Engine {
  #setup: Promise<void> | undefined;

  /** Sets up on the first call; later calls share the outcome. */
  ensure(): Promise<void> {
    this.#setup ??= this.setup();
    return this.#setup;
  }

  protected abstract setup(): Promise<void>;
  abstract teardown(): Promise<void>;
}

/** Runs a pull runner's commands (untimed: the image is pulled before any timing) and checks the result. */
async function pullWith(runner: Runner): Promise<void> {
  await runner.reset();
  for (const spec of runner.commands()) await check(spec);
  await runner.verify();
}

function pullContext(ctx: StartContext, dir: string): RunnerContext {
  return { dir, registryHost: ctx.registryHost, ref: ctx.ref, image: ctx.image, repoRoot: ctx.repoRoot, containersEnv: ctx.containersEnv };
}

/** Splits `ps -q` output into ids. */
function ids(text: string): string[] {
  return text.split('\n').map((s) => s.trim()).filter((s) => s !== '');
}

/** berth with its own store (`--root`) under the work dir; the image pulled with `berth pull`. */
export class BerthEngine extends Engine {
  readonly root: string;
  readonly #ctx: StartContext;
  readonly #puller: BerthRunner;
  version = '';

  /** The store's default bridge and its address: its own, with a subnet no other berth store uses here. */
  readonly bridge: string;
  readonly bip: string;

  constructor(ctx: StartContext, options: { readonly bridge: string; readonly bip: string } = { bridge: BerthEngine.bridge, bip: BerthEngine.bip }) {
    super();
    this.#ctx = ctx;
    this.bridge = options.bridge;
    this.bip = options.bip;
    const dir = join(ctx.work, 'berth');
    this.#puller = new BerthRunner(pullContext(ctx, dir));
    // BerthRunner's store: see runners.ts.
    this.root = join(dir, 'root');
  }

  /** The main berth store's default bridge (a baseline's has another). */
  static readonly bridge = 'berthbench0';
  static readonly bip = '10.76.0.1/24';

  protected async setup(): Promise<void> {
    await mkdir(join(this.#ctx.work, 'berth'), { recursive: true });
    await this.#puller.setup();
    await pullWith(this.#puller);
    // After the pull, which starts from an empty root.
    await writeFile(join(this.root, 'config.json'), `${JSON.stringify({ bridge: this.bridge, bip: this.bip })}\n`);
    this.version = /\((.*)\)$/.exec(this.#puller.label())?.[1] ?? '';
  }

  /** `berth --root ROOT ...args`, through the launcher on PATH (bin/launcher.c). */
  spec(args: readonly string[]): CommandSpec {
    return { file: join(this.#ctx.repoRoot, 'dist', 'native', 'berth'), args: ['--root', this.root, ...args] };
  }

  async containers(): Promise<string[]> {
    const s = this.spec(['ps', '-aq']);
    return ids(await output(s.file, s.args));
  }

  async removeAll(): Promise<void> {
    const left = await this.containers();
    if (left.length > 0) await check(this.spec(['rm', '-f', ...left]));
  }

  async teardown(): Promise<void> {
    try {
      // Containers exist only once the image is in the store.
      if (this.version !== '') await this.removeAll();
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err);
      const killed = await this.#killLeftovers();
      throw new Error(`berth rm -f failed (${lastLines(why, 2)}); killed ${killed} left-over container process(es) by pid and removed their cgroups`);
    } finally {
      await this.#waitForStragglers();
      // The bridge and nftables table berth made for this store (its table is named by the root).
      await output('ip', ['link', 'del', this.bridge]).catch(() => undefined);
      const table = `berth_${createHash('sha256').update(this.root).digest('hex').slice(0, 10)}`;
      await output('nft', ['delete', 'table', 'ip', table]).catch(() => undefined);
      await this.#puller.teardown();
    }
  }

  /**
   * Waits for processes still naming this store (a monitor's exit command `berth --root ROOT
   * rm --if-exists ID` can outlive a killed `berth run`, and would make the store again after
   * it is removed), then stops any left by pid.
   */
  async #waitForStragglers(): Promise<void> {
    const deadline = Date.now() + 10_000;
    let left = await processesWithArg(this.root);
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(100);
      left = await processesWithArg(this.root);
    }
    for (const pid of left) await stopPid(pid, 2_000);
  }

  /**
   * When `berth rm -f` cannot remove a container (a CLI killed while creating one leaves it
   * "dead" with its monitor and helper alive): SIGKILL the processes in the cgroups of the
   * containers of this store (berth puts them in `berth/ID`), wait for their monitors to
   * exit, remove the cgroups. Returns how many processes were killed.
   */
  async #killLeftovers(): Promise<number> {
    const containers = await readdir(join(this.root, 'containers')).catch(() => []);
    let killed = 0;
    for (const id of containers) {
      for (const pid of await cgroupPids(`berth/${id}`)) {
        try {
          process.kill(pid, 'SIGKILL');
          killed++;
        } catch {
          // Gone meanwhile.
        }
      }
    }
    for (const monitor of await findProcesses('berth-monitor', `${this.root}/containers/`)) await stopPid(monitor, 5_000);
    for (const id of containers) await removeCgroupTree(`berth/${id}`);
    return killed;
  }
}

/** The IPv4 forwarding sysctl of the host's network namespace. */
const ipForwardPath = '/proc/sys/net/ipv4/ip_forward';

/** Debian's docker CLI, matching dockerd 20.10 (as in docker.ts). */
const dockerCli = '/usr/bin/docker';

/** The pull benchmark's private dockerd (docker.ts); containers go under their own cgroup parent. */
export class DockerEngine extends Engine {
  readonly cgroupParent: string;
  readonly #dir: string;
  readonly #daemon: DockerRunner;
  readonly #env: NodeJS.ProcessEnv;
  readonly #paths = new CreatedPaths();
  #ipForward = '';
  version = '';

  constructor(ctx: StartContext) {
    super();
    this.#dir = join(ctx.work, 'docker');
    this.#daemon = new DockerRunner(pullContext(ctx, this.#dir));
    // The CLI environment DockerRunner gives its own commands.
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(this.#dir, 'cli') };
    delete env['DOCKER_HOST'];
    delete env['DOCKER_CONTEXT'];
    this.#env = env;
    // Not dockerd's default /docker, so that what it creates is ours to remove.
    this.cgroupParent = `/${ctx.tag}-docker`;
  }

  protected async setup(): Promise<void> {
    // containerd-shim-runc-v2 keeps its sockets in /run/containerd/s whatever dockerd's flags say.
    await this.#paths.note('/run/containerd', '/run/containerd/s');
    // dockerd turns IPv4 forwarding on at start even with --bridge=none; put back at teardown.
    this.#ipForward = (await readFile(ipForwardPath, 'utf8')).trim();
    await mkdir(this.#dir, { recursive: true });
    await this.#daemon.setup();
    await pullWith(this.#daemon);
    const v = await output(dockerCli, ['-H', `unix://${dockerSocket}`, 'version', '--format', '{{.Server.Version}}'], this.#env);
    const runtime = await output(dockerCli, ['-H', `unix://${dockerSocket}`, 'info', '--format', '{{.DefaultRuntime}}'], this.#env);
    this.version = `dockerd ${v}, runtime ${runtime}`;
  }

  /** `/usr/bin/docker -H unix://SOCKET ...args`. */
  spec(args: readonly string[]): CommandSpec {
    return { file: dockerCli, args: ['-H', `unix://${dockerSocket}`, ...args], env: this.#env };
  }

  async containers(): Promise<string[]> {
    const s = this.spec(['ps', '-aq']);
    return ids(await output(s.file, s.args, s.env));
  }

  async removeAll(): Promise<void> {
    const left = await this.containers();
    if (left.length > 0) await check(this.spec(['rm', '-f', ...left]));
  }

  async teardown(): Promise<void> {
    try {
      // Only while our daemon answers; nothing to remove otherwise.
      if (this.version !== '') await this.removeAll();
    } finally {
      try {
        await this.#daemon.teardown();
      } finally {
        await this.#paths.remove('/run/containerd/s', { emptyOnly: true });
        await this.#paths.remove('/run/containerd', { emptyOnly: true });
        if (this.#ipForward === '0' && (await readFile(ipForwardPath, 'utf8')).trim() === '1') await writeFile(ipForwardPath, '0\n');
        const busy = await removeCgroupTree(this.cgroupParent.slice(1));
        if (busy.length > 0) throw new Error(`cgroups still busy: ${busy.join(', ')}`);
      }
    }
  }
}

/**
 * The pull benchmark's private podman store (podman.ts), with an explicit cgroup parent
 * (PEERS.md). Podman's default OCI runtime is crun; when crun cannot run here (crun 1.8 refuses
 * a host with cgroups in hybrid mode) podman is given `--runtime runc`, and the reason kept.
 */
export class PodmanEngine extends Engine {
  readonly cgroupParent: string;
  readonly #ctx: StartContext;
  readonly #dir: string;
  readonly #store: PodmanRunner;
  readonly #env: NodeJS.ProcessEnv;
  readonly #paths = new CreatedPaths();
  #runtimeArgs: string[] = [];
  version = '';
  /** Why podman does not use its default runtime, when it does not. */
  runtimeNote = '';

  constructor(ctx: StartContext) {
    super();
    this.#ctx = ctx;
    this.#dir = join(ctx.work, 'podman');
    this.#store = new PodmanRunner(pullContext(ctx, this.#dir));
    // The variables PodmanRunner points podman at its private configuration with.
    this.#env = {
      ...ctx.containersEnv,
      CONTAINERS_CONF: join(this.#dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(this.#dir, 'storage.conf'),
    };
    this.cgroupParent = `/${ctx.tag}-podman`;
  }

  protected async setup(): Promise<void> {
    // runc's default state dir, which podman uses when it runs runc as root.
    await this.#paths.note('/run/runc');
    await mkdir(this.#dir, { recursive: true });
    await this.#store.setup();
    await pullWith(this.#store);
    const probe = (): Promise<CommandResult> =>
      runCommand(this.spec(['run', '--rm', '--network', 'none', '--cgroup-parent', this.cgroupParent, this.#ctx.ref, 'true']));
    let first = await probe();
    const defaultRuntime = await output('podman', ['info', '--format', '{{.Host.OCIRuntime.Name}}'], this.#env);
    if (first.code !== 0 && /hybrid mode/.test(first.stderr)) {
      this.runtimeNote = `podman's default runtime ${defaultRuntime} fails here ("${lastLines(first.stderr, 1).replace(/^Error: /, '')}"), so podman runs with --runtime runc`;
      this.#runtimeArgs = ['--runtime', 'runc'];
      first = await probe();
    }
    if (first.code !== 0) throw new Error(`podman run fails: ${lastLines(first.stderr, 2)}`);
    const runtime = await output('podman', [...this.#runtimeArgs, 'info', '--format', '{{.Host.OCIRuntime.Version}}'], this.#env);
    const podman = (await output('podman', ['--version'], this.#env)).replace(/^podman version /, 'podman ');
    this.version = `${podman}, runtime ${(runtime.split('\n')[0] ?? '').replace(/ version /, ' ')}`;
  }

  /** `podman [--runtime runc] ...args` with the private configuration. */
  spec(args: readonly string[]): CommandSpec {
    return { file: 'podman', args: [...this.#runtimeArgs, ...args], env: this.#env };
  }

  async containers(): Promise<string[]> {
    const s = this.spec(['ps', '-aq']);
    return ids(await output(s.file, s.args, s.env));
  }

  async removeAll(): Promise<void> {
    const left = await this.containers();
    if (left.length > 0) await check(this.spec(['rm', '-f', '-t', '0', ...left]));
  }

  async teardown(): Promise<void> {
    try {
      if (this.version !== '') await this.removeAll();
    } finally {
      try {
        await this.#store.teardown();
      } finally {
        await this.#paths.remove('/run/runc', { emptyOnly: true });
        const busy = await removeCgroupTree(this.cgroupParent.slice(1));
        if (busy.length > 0) throw new Error(`cgroups still busy: ${busy.join(', ')}`);
      }
    }
  }
}

/** {@link PrivateNetns} as an engine: made on first use, removed at the end. */
export class NetnsEngine extends Engine {
  readonly netns: PrivateNetns;

  constructor(ctx: StartContext) {
    super();
    this.netns = new PrivateNetns(ctx.tag);
  }

  protected async setup(): Promise<void> {
    await this.netns.create();
  }

  async teardown(): Promise<void> {
    await this.netns.remove();
  }
}

/** One row of the start benchmark: a command line that starts a container and removes it. */
interface ContainerRow {
  readonly id: string;
  readonly label: (version: string) => string;
  readonly engines: readonly Engine[];
  /** The engine whose containers must be gone after each run. */
  readonly engine: { version: string; containers(): Promise<string[]>; removeAll(): Promise<void> };
  /** The command that runs `argv` in a new container (`true` when timed). */
  readonly command: (argv: readonly string[]) => CommandSpec;
}

/** Prints the container's network interfaces, one a line (/proc/net/dev follows the netns). */
const listInterfaces = ['sh', '-c', 'tail -n +3 /proc/net/dev | cut -d: -f1 | tr -d " "'];

/**
 * A {@link ContainerRow} as a {@link Runner}: setup runs it once listing the container's network
 * interfaces; verify checks that `--rm` left no container behind.
 */
export class ContainerRunner implements Runner {
  readonly id: string;
  readonly #row: ContainerRow;
  /** The interfaces a container of this row sees, from the setup run. */
  interfaces: string[] = [];

  constructor(row: ContainerRow) {
    this.id = row.id;
    this.#row = row;
  }

  label(): string {
    return this.#row.label(this.#row.engine.version);
  }

  async setup(): Promise<void> {
    for (const e of this.#row.engines) await e.ensure();
    this.interfaces = ids((await check(this.#row.command(listInterfaces))).stdout);
    await this.verify();
  }

  async reset(): Promise<void> {
    await this.#row.engine.removeAll();
  }

  commands(): readonly CommandSpec[] {
    return [this.#row.command(['true'])];
  }

  async verify(): Promise<void> {
    const left = await this.#row.engine.containers();
    if (left.length > 0) throw new Error(`${left.length} container(s) left after run --rm: ${left.join(' ')}`);
  }

  async teardown(): Promise<void> {
    // The engines are torn down by the harness, once each.
  }
}

/** The engines a run may use, made on demand; `teardown` covers the ones that were made. */
export class Engines {
  readonly #ctx: StartContext;
  #berth: BerthEngine | undefined;
  #baseline: BerthEngine | undefined;
  #docker: DockerEngine | undefined;
  #podman: PodmanEngine | undefined;
  #netns: NetnsEngine | undefined;
  readonly #made: Engine[] = [];

  constructor(ctx: StartContext) {
    this.#ctx = ctx;
  }

  get berth(): BerthEngine {
    return (this.#berth ??= this.#add(new BerthEngine(this.#ctx)));
  }

  /**
   * berth built from another checkout (`BENCH_BASELINE`, a directory with a built
   * dist/native/berth), with a store, bridge and subnet of its own: the same rows, timed in
   * the same rounds, say what a change did.
   */
  get baseline(): BerthEngine {
    const root = this.#ctx.baselineRoot;
    if (root === undefined) throw new Error('BENCH_BASELINE is not set: the baseline rows need a checkout with a built dist/native/berth');
    return (this.#baseline ??= this.#add(new BerthEngine({ ...this.#ctx, repoRoot: root, work: join(this.#ctx.work, 'baseline') }, { bridge: 'berthbench1', bip: '10.76.1.1/24' })));
  }

  get docker(): DockerEngine {
    return (this.#docker ??= this.#add(new DockerEngine(this.#ctx)));
  }

  get podman(): PodmanEngine {
    return (this.#podman ??= this.#add(new PodmanEngine(this.#ctx)));
  }

  get netns(): NetnsEngine {
    return (this.#netns ??= this.#add(new NetnsEngine(this.#ctx)));
  }

  /** The berth, podman and docker engines that were made, set up or not. */
  made(): { berth?: BerthEngine; podman?: PodmanEngine; docker?: DockerEngine } {
    return {
      ...(this.#berth === undefined ? {} : { berth: this.#berth }),
      ...(this.#podman === undefined ? {} : { podman: this.#podman }),
      ...(this.#docker === undefined ? {} : { docker: this.#docker }),
    };
  }

  /** Tears down every engine made, newest first; returns one line per failure. */
  async teardown(): Promise<string[]> {
    const failures: string[] = [];
    for (const e of [...this.#made].reverse()) {
      await e.teardown().catch((err: unknown) => failures.push(`${e.constructor.name}: ${err instanceof Error ? err.message : String(err)}`));
    }
    return failures;
  }

  #add<E extends Engine>(e: E): E {
    this.#made.push(e);
    return e;
  }
}

/**
 * Extra `run` flags for a row and the id suffix that names it (bench:limits gives the
 * `--network none` rows its resource limits: id `berth-limits`, ...).
 */
export interface RowFlags {
  readonly suffix: string;
  readonly args: readonly string[];
}

const noFlags: RowFlags = { suffix: '', args: [] };

/** ` --memory 64m ...` for a label, or nothing. */
function flagText(flags: RowFlags): string {
  return flags.args.length === 0 ? '' : ` ${flags.args.join(' ')}`;
}

/** `berth run --rm [--network none] [FLAGS] REF true`. */
export function berthRunner(engines: Engines, ctx: StartContext, network: 'none' | 'default', flags: RowFlags = noFlags, baseline = false): Runner {
  const e = baseline ? engines.baseline : engines.berth;
  const net = network === 'none' ? ['--network', 'none'] : [];
  const which = baseline ? ' [baseline]' : '';
  return new ContainerRunner({
    id: `${network === 'none' ? 'berth' : 'berth-default'}${baseline ? '-baseline' : ''}${flags.suffix}`,
    label: (v) => `berth${which} run --rm${network === 'none' ? ' --network none' : ', default network (bridge)'}${flagText(flags)}${v === '' ? '' : ` (${v})`}`,
    engines: [e], engine: e,
    command: (argv) => e.spec(['run', '--rm', ...net, ...flags.args, ctx.ref, ...argv]),
  });
}

/** `podman run --rm [--network none] --cgroup-parent P [FLAGS] REF true`; the default network in a private netns. */
export function podmanRunner(engines: Engines, ctx: StartContext, network: 'none' | 'default', flags: RowFlags = noFlags): Runner {
  const e = engines.podman;
  if (network === 'none') {
    return new ContainerRunner({
      id: `podman${flags.suffix}`,
      label: (v) => `podman run --rm --network none${flagText(flags)}${v === '' ? '' : ` (${v})`}`,
      engines: [e], engine: e,
      command: (argv) => e.spec(['run', '--rm', '--network', 'none', '--cgroup-parent', e.cgroupParent, ...flags.args, ctx.ref, ...argv]),
    });
  }
  const ns = engines.netns;
  return new ContainerRunner({
    id: `podman-default${flags.suffix}`,
    label: (v) => `podman run --rm, default network (CNI bridge, in a private netns via nsenter)${flagText(flags)}${v === '' ? '' : ` (${v})`}`,
    engines: [ns, e], engine: e,
    command: (argv) => {
      const s = e.spec(['run', '--rm', '--cgroup-parent', e.cgroupParent, ...flags.args, ctx.ref, ...argv]);
      return { ...ns.netns.wrap(s.file, s.args), ...(s.env === undefined ? {} : { env: s.env }) };
    },
  });
}

/** `docker run --rm [--network none] --cgroup-parent P [FLAGS] REF true` against the private dockerd. */
export function dockerRunner(engines: Engines, ctx: StartContext, network: 'none' | 'default', flags: RowFlags = noFlags): Runner {
  const e = engines.docker;
  const net = network === 'none' ? ['--network', 'none'] : [];
  return new ContainerRunner({
    id: `${network === 'none' ? 'docker' : 'docker-default'}${flags.suffix}`,
    label: (v) => `docker run --rm${network === 'none' ? ' --network none' : ', default network (dockerd --bridge=none)'}${flagText(flags)}${v === '' ? '' : ` (${v})`}`,
    engines: [e], engine: e,
    command: (argv) => e.spec(['run', '--rm', ...net, '--cgroup-parent', e.cgroupParent, ...flags.args, ctx.ref, ...argv]),
  });
}

/**
 * The floor: `node -e 0`, as berth's CLI is a node program, started as berth's launcher
 * starts it: without NODE_EXTRA_CA_CERTS (bin/launcher.c), whose loading alone costs Node
 * 20 about 35 ms here.
 */
export class NodeFloorRunner implements Runner {
  readonly id = 'node';

  label(): string {
    return `node -e 0 (floor, node ${process.versions.node}, without NODE_EXTRA_CA_CERTS as berth's launcher runs it)`;
  }

  async setup(): Promise<void> {
    // Nothing to set up.
  }

  async reset(): Promise<void> {
    // Nothing is left behind.
  }

  commands(): readonly CommandSpec[] {
    const env = { ...process.env };
    delete env['NODE_EXTRA_CA_CERTS'];
    return [{ file: process.execPath, args: ['-e', '0'], env }];
  }

  async verify(): Promise<void> {
    // Exit 0 is the check.
  }

  async teardown(): Promise<void> {
    // Nothing was started.
  }
}

/** How a bare OCI runtime row runs. */
export interface OciRuntimeOptions {
  readonly id: string;
  /** `crun` or `runc`. */
  readonly binary: string;
  /**
   * Run it in a private mount namespace where the cgroup2 mount of a hybrid host is covered by
   * an empty tmpfs, so crun sees cgroup v1 only (a workaround: adds unshare, sh and a mount).
   */
  readonly hideCgroup2?: boolean;
}

/**
 * Bare `crun run` / `runc run --bundle B ID` in the foreground, a fresh id each run, state in
 * a private `--root`; they delete the container themselves when it exits (`delete -f` in
 * reset and verify catches any left).
 */
export class OciRuntimeRunner implements Runner {
  readonly id: string;
  readonly #ctx: StartContext;
  readonly #options: OciRuntimeOptions;
  readonly #stateRoot: string;
  #globalArgs: string[] = [];
  #unified: string | undefined;
  #version = '';
  #note = '';
  #next = 0;
  #last = '';

  constructor(ctx: StartContext, options: OciRuntimeOptions) {
    this.id = options.id;
    this.#ctx = ctx;
    this.#options = options;
    this.#stateRoot = join(ctx.work, `${options.id}-state`);
  }

  label(): string {
    const name = basename(this.#options.binary);
    const how = this.#options.hideCgroup2 === true ? ', cgroup2 mount hidden in a private mount ns (workaround: + unshare, sh, mount)' : '';
    const v = this.#version === '' ? '' : ` (${this.#version}${this.#note === '' ? '' : `, ${this.#note}`})`;
    return `${name} ${this.#globalArgs.join(' ')}${this.#globalArgs.length > 0 ? ' ' : ''}run of the bundle${how}${v}`;
  }

  async setup(): Promise<void> {
    this.#version = (await output(this.#options.binary, ['--version'])).split('\n')[0]?.replace(/ version /, ' ') ?? '';
    await mkdir(this.#stateRoot, { recursive: true });
    if (this.#options.hideCgroup2 === true) {
      this.#unified = await hybridUnifiedMount();
      if (this.#unified === undefined) throw new Error('not needed: the host does not run cgroups in hybrid mode');
    }
    let probe = await runCommand(this.#spec());
    if (probe.code !== 0 && this.#options.hideCgroup2 !== true) {
      // The brief's first fallback for crun: no cgroup manager at all.
      const first = lastLines(probe.stderr, 1);
      this.#globalArgs = ['--cgroup-manager=disabled'];
      probe = await runCommand(this.#spec());
      if (probe.code !== 0) {
        this.#globalArgs = [];
        const second = lastLines(probe.stderr, 1);
        throw new Error(`${first}; ${second === first ? 'the same' : second} with --cgroup-manager=disabled`);
      }
      this.#note = `plain run fails: ${first}`;
    }
    if (probe.code !== 0) throw new Error(lastLines(probe.stderr, 2));
    await this.verify();
  }

  async reset(): Promise<void> {
    await this.#deleteLeft();
  }

  commands(): readonly CommandSpec[] {
    return [this.#spec()];
  }

  async verify(): Promise<void> {
    const left = await this.#deleteLeft();
    if (left.length > 0) throw new Error(`${basename(this.#options.binary)} run left ${left.join(' ')} behind`);
  }

  async teardown(): Promise<void> {
    try {
      await this.#deleteLeft();
    } finally {
      await removeTree(this.#stateRoot);
    }
  }

  /** A fresh container id and the command that runs it. */
  #spec(): CommandSpec {
    this.#last = `${this.#ctx.tag}-${this.id}-${++this.#next}`;
    const run = [this.#options.binary, ...this.#globalArgs, '--root', this.#stateRoot, 'run', '--bundle', this.#ctx.bundle, this.#last];
    if (this.#unified === undefined) return { file: run[0] ?? '', args: run.slice(1) };
    const script = 'mount -t tmpfs berth-bench "$0" && exec "$@"';
    return { file: 'unshare', args: ['--mount', '--propagation', 'private', '--', 'sh', '-c', script, this.#unified, ...run] };
  }

  /** Deletes containers still in the state dir and the last run's cgroup if it stayed; returns what was left. */
  async #deleteLeft(): Promise<string[]> {
    const listed = await runCommand({ file: this.#options.binary, args: ['--root', this.#stateRoot, 'list', '-q'] });
    const left = listed.code === 0 ? ids(listed.stdout) : [];
    for (const id of left) {
      const del = await runCommand({ file: this.#options.binary, args: [...this.#globalArgs, '--root', this.#stateRoot, 'delete', '-f', id] });
      if (del.code !== 0) throw new CommandFailedError({ file: this.#options.binary, args: ['delete', '-f', id] }, del);
    }
    if (this.#last !== '') {
      const busy = await removeCgroupTree(this.#last);
      if (busy.length > 0) left.push(...busy);
    }
    return left;
  }
}
