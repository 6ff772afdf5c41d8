/**
 * The limits benchmark's rows (bench:limits), on the start benchmark's engines:
 *  - `run --rm --network none` with {@link limitFlags}, the start rows with extra flags
 *    (start-runners.ts), whose setup also checks in the host's cgroup files that a container
 *    started with those flags really got the limits;
 *  - `stats --no-stream` with N detached `sleep 3600` containers (`--network none`) running,
 *    started before timing and removed right after the stats rounds.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { cgroupMounts } from './host.js';
import { check, isAlive, lastLines, output, runCommand, type CommandSpec } from './proc.js';
import type { Runner } from './runners.js';
import {
  berthRunner, dockerRunner, podmanRunner, type Engines, type RowFlags, type StartContext,
} from './start-runners.js';

/** docker's resource flags that the issue's goal is about (64 MiB, one CPU, 100 pids). */
export const limitFlags: RowFlags = { suffix: '-limits', args: ['--memory', '64m', '--cpus', '1', '--pids-limit', '100'] };

/** What a container started with {@link limitFlags} must show in its cgroups. */
const wantMemory = 64 * 2 ** 20;
const wantPids = 100;
const wantCpus = 1;

/** What the long-running containers run. */
const longRunning = ['sleep', '3600'];

/** One engine's detached containers: how to start one, find its init, list stats, remove them. */
interface Detached {
  readonly name: 'berth' | 'podman' | 'docker';
  readonly version: () => string;
  /** Sets up the engine (shared with the run rows, set up once). */
  readonly prepare: () => Promise<void>;
  /** `run -d --network none [--cgroup-parent P] FLAGS REF ARGV`. */
  readonly run: (flags: readonly string[], argv: readonly string[]) => CommandSpec;
  /** `ARGS` through the engine's CLI (`stats --no-stream`, `inspect ...`, `rm -f ...`). */
  readonly spec: (args: readonly string[]) => CommandSpec;
  /** The flags of `rm` that remove running containers at once. */
  readonly rmFlags: readonly string[];
}

function detached(engines: Engines, ctx: StartContext, name: Detached['name']): Detached {
  if (name === 'berth') {
    const e = engines.berth;
    return {
      name, version: () => e.version, prepare: () => e.ensure(), rmFlags: ['-f'],
      run: (flags, argv) => e.spec(['run', '-d', '--network', 'none', ...flags, ctx.ref, ...argv]),
      spec: (args) => e.spec(args),
    };
  }
  const e = name === 'podman' ? engines.podman : engines.docker;
  return {
    name, version: () => e.version, prepare: () => e.ensure(), rmFlags: name === 'podman' ? ['-f', '-t', '0'] : ['-f'],
    run: (flags, argv) => e.spec(['run', '-d', '--network', 'none', '--cgroup-parent', e.cgroupParent, ...flags, ctx.ref, ...argv]),
    spec: (args) => e.spec(args),
  };
}

async function outputOf(spec: CommandSpec): Promise<string> {
  return output(spec.file, spec.args, spec.env);
}

/** Starts a detached container; returns the id it printed (the last line). */
async function start(d: Detached, flags: readonly string[]): Promise<string> {
  const id = (await outputOf(d.run(flags, longRunning))).split('\n').at(-1)?.trim() ?? '';
  if (id === '') throw new Error(`${d.name} run -d printed no container id`);
  return id;
}

/** The host pid of a container's init. */
async function initPid(d: Detached, id: string): Promise<number> {
  const text = await outputOf(d.spec(['inspect', '--format', '{{.State.Pid}}', id]));
  const pid = Number(text);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`${d.name} inspect printed "${text}" for the pid`);
  return pid;
}

/**
 * Reads the memory, CPU and pids limits of `pid`'s cgroups from the host's cgroupfs: a v1
 * hierarchy when the controller is mounted as one (cgroups(7): /proc/PID/cgroup lines
 * `ID:CONTROLLERS:PATH`), else the cgroup2 leaf (`0::PATH`). Returns a line for the notes;
 * throws when a limit is not what {@link limitFlags} asks for.
 */
async function checkLimits(pid: number): Promise<string> {
  const lines = (await readFile(`/proc/${pid}/cgroup`, 'utf8')).split('\n');
  const mounts = await cgroupMounts();
  const v1 = (controller: string): string | undefined => {
    for (const line of lines) {
      const [, controllers, path] = /^\d+:([^:]*):(.*)$/.exec(line) ?? [];
      if (controllers === undefined || path === undefined || !controllers.split(',').includes(controller)) continue;
      // The controller's mount point is named after it (cpu, or a co-mount like cpu,cpuacct).
      const point = mounts.find((m) => m.fstype === 'cgroup' && m.point.split('/').at(-1)?.split(',').includes(controller))?.point;
      if (point !== undefined) return join(point, path);
    }
    return undefined;
  };
  const v2Path = lines.map((l) => /^0::(.*)$/.exec(l)?.[1]).find((p) => p !== undefined);
  const v2Point = mounts.find((m) => m.fstype === 'cgroup2')?.point;
  const v2 = v2Path === undefined || v2Point === undefined ? undefined : join(v2Point, v2Path);
  const read = async (path: string): Promise<string> => (await readFile(path, 'utf8')).trim();
  const memDir = v1('memory');
  const pidsDir = v1('pids');
  const cpuDir = v1('cpu');
  if ((memDir === undefined || pidsDir === undefined || cpuDir === undefined) && v2 === undefined) {
    throw new Error(`no cgroup of pid ${pid} holds the memory, pids and cpu controllers`);
  }
  const memory = memDir !== undefined ? await read(join(memDir, 'memory.limit_in_bytes')) : await read(join(v2 ?? '', 'memory.max'));
  const pids = pidsDir !== undefined ? await read(join(pidsDir, 'pids.max')) : await read(join(v2 ?? '', 'pids.max'));
  const [quota, period] = cpuDir !== undefined
    ? [await read(join(cpuDir, 'cpu.cfs_quota_us')), await read(join(cpuDir, 'cpu.cfs_period_us'))]
    : (await read(join(v2 ?? '', 'cpu.max'))).split(' ');
  const swap = memDir !== undefined ? await read(join(memDir, 'memory.memsw.limit_in_bytes')).catch(() => 'n/a') : undefined;
  const found = `memory ${memory}${swap === undefined ? '' : ` (memsw ${swap})`}, cpu quota/period ${quota ?? '?'}/${period ?? '?'}, pids ${pids}` +
    ` (${memDir !== undefined ? 'v1' : 'cgroup2'})`;
  const cpus = Number(quota) / Number(period);
  if (Number(memory) !== wantMemory || Number(pids) !== wantPids || cpus !== wantCpus) {
    throw new Error(`the limits did not reach the cgroups: ${found}`);
  }
  return found;
}

/**
 * A `run --rm` row with {@link limitFlags}; its setup first checks the flags' effect on a
 * detached container run with them (removed right away), and keeps what it read in `checked`.
 */
export class LimitedRunner implements Runner {
  readonly id: string;
  readonly #inner: Runner;
  readonly #detached: Detached;
  /** What the setup read from the cgroups, for the report's notes. */
  checked = '';

  constructor(inner: Runner, d: Detached) {
    this.id = inner.id;
    this.#inner = inner;
    this.#detached = d;
  }

  label(): string {
    return this.#inner.label();
  }

  async setup(): Promise<void> {
    await this.#inner.setup();
    const d = this.#detached;
    const id = await start(d, limitFlags.args);
    try {
      this.checked = await checkLimits(await initPid(d, id));
    } finally {
      await check(d.spec(['rm', ...d.rmFlags, id]));
    }
  }

  reset(): Promise<void> {
    return this.#inner.reset();
  }

  commands(): readonly CommandSpec[] {
    return this.#inner.commands();
  }

  verify(): Promise<void> {
    return this.#inner.verify();
  }

  teardown(): Promise<void> {
    return this.#inner.teardown();
  }
}

/** `berth run --rm --network none --memory 64m --cpus 1 --pids-limit 100 REF true`. */
export function berthLimitedRunner(engines: Engines, ctx: StartContext): LimitedRunner {
  return new LimitedRunner(berthRunner(engines, ctx, 'none', limitFlags), detached(engines, ctx, 'berth'));
}

/** The same with podman (the runtime the start bench chose) and its cgroup parent. */
export function podmanLimitedRunner(engines: Engines, ctx: StartContext): LimitedRunner {
  return new LimitedRunner(podmanRunner(engines, ctx, 'none', limitFlags), detached(engines, ctx, 'podman'));
}

/** The same with the private dockerd. */
export function dockerLimitedRunner(engines: Engines, ctx: StartContext): LimitedRunner {
  return new LimitedRunner(dockerRunner(engines, ctx, 'none', limitFlags), detached(engines, ctx, 'docker'));
}

/**
 * `ENGINE stats --no-stream` with `count` detached `sleep 3600` containers running. Setup starts
 * them and checks that one stats call lists each; verify checks their inits are still the ones
 * started; teardown removes them (idempotent: later calls share the first one's outcome).
 */
export class StatsRunner implements Runner {
  readonly id: string;
  readonly #d: Detached;
  readonly #count: number;
  readonly #containers: string[] = [];
  readonly #pids: number[] = [];
  #removed: Promise<void> | undefined;

  constructor(d: Detached, count: number) {
    this.id = `${d.name}-stats`;
    this.#d = d;
    this.#count = count;
  }

  label(): string {
    const v = this.#d.version();
    return `${this.#d.name} stats --no-stream, ${this.#count} running containers${v === '' ? '' : ` (${v})`}`;
  }

  async setup(): Promise<void> {
    await this.#d.prepare();
    for (let i = 0; i < this.#count; i++) {
      const id = await start(this.#d, []);
      this.#containers.push(id);
      this.#pids.push(await initPid(this.#d, id));
    }
    const shown = (await check(this.#d.spec(['stats', '--no-stream']))).stdout;
    const missing = this.#containers.filter((id) => !shown.includes(id.slice(0, 12)));
    if (missing.length > 0) throw new Error(`stats --no-stream does not list ${missing.length} of the ${this.#count} containers: ${lastLines(shown, 2)}`);
  }

  async reset(): Promise<void> {
    // The same containers for every run.
  }

  commands(): readonly CommandSpec[] {
    return [{ ...this.#d.spec(['stats', '--no-stream']), stdoutPath: '/dev/null' }];
  }

  async verify(): Promise<void> {
    for (const pid of this.#pids) {
      if (!(await isAlive(pid))) throw new Error(`a container's init (pid ${pid}) is gone`);
    }
  }

  teardown(): Promise<void> {
    this.#removed ??= this.#remove();
    return this.#removed;
  }

  async #remove(): Promise<void> {
    if (this.#containers.length === 0) return;
    const rm = await runCommand(this.#d.spec(['rm', ...this.#d.rmFlags, ...this.#containers]));
    if (rm.code !== 0) throw new Error(`${this.#d.name} rm failed: ${lastLines(rm.stderr, 2)}`);
  }
}

/** The stats rows, by engine. */
export function statsRunner(engines: Engines, ctx: StartContext, name: Detached['name'], count: number): StatsRunner {
  return new StatsRunner(detached(engines, ctx, name), count);
}
