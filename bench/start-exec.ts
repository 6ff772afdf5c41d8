/**
 * The start benchmark's exec section: `berth exec ID true` next to `podman exec`, `docker
 * exec` (the private dockerd) and bare `runc exec`, each into one long-running container
 * (`sleep 3600`, `--network none`) started once before timing and removed at the end.
 *
 * The containers live only for the exec rounds: the harness calls `teardown` right after them,
 * and again (a no-op then) from its undo stack after an error or Ctrl-C. The engines' own
 * teardown (`rm -f` of every container of their private stores) catches a container whose
 * start was interrupted before it printed its id; the runc row lists its private state dir.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { makeBundle } from './busybox.js';
import { removeCgroupTree } from './host.js';
import { CommandFailedError, check, isAlive, lastLines, output, runCommand, type CommandSpec } from './proc.js';
import type { Runner } from './runners.js';
import type { Engines, StartContext } from './start-runners.js';
import { removeTree } from './teardown.js';

/** What the long-running container runs. */
const longRunning = ['sleep', '3600'];

/** The setup probe's marker, echoed through one exec. */
const probeWord = 'berth-bench-exec-ok';

/** One engine's side of an exec row. */
interface ExecTarget {
  /** Table label, given the engine's version string. */
  readonly label: (version: string) => string;
  readonly version: () => string;
  /** Sets up the engine (shared with the start rows, set up once). */
  readonly prepare: () => Promise<void>;
  /** Starts the long-running container; returns its id. */
  readonly start: () => Promise<string>;
  /** The command that runs `argv` in the container `id` (`true` when timed). */
  readonly exec: (id: string, argv: readonly string[]) => CommandSpec;
  /** The host pid of the container's init. */
  readonly pid: (id: string) => Promise<number>;
  /** Removes the container `id` (and whatever else this target made). */
  readonly remove: (id: string | undefined) => Promise<void>;
}

/**
 * An exec row as a {@link Runner}: setup starts the container and runs one exec that must echo
 * back; each timed command is one `exec ID true`; verify checks the container's init is still
 * the one started; teardown removes the container (idempotent).
 */
export class ExecRunner implements Runner {
  readonly id: string;
  readonly #target: ExecTarget;
  #container: string | undefined;
  #pid = -1;
  #removed: Promise<void> | undefined;

  constructor(id: string, target: ExecTarget) {
    this.id = id;
    this.#target = target;
  }

  label(): string {
    return this.#target.label(this.#target.version());
  }

  async setup(): Promise<void> {
    await this.#target.prepare();
    this.#container = await this.#target.start();
    this.#pid = await this.#target.pid(this.#container);
    if (!(this.#pid > 0)) throw new Error(`the container's init pid is "${this.#pid}"`);
    const probe = await check(this.#target.exec(this.#container, ['echo', probeWord]));
    if (probe.stdout.trim() !== probeWord) throw new Error(`exec echo printed "${lastLines(probe.stdout, 1)}"`);
  }

  async reset(): Promise<void> {
    // The same container for every run.
  }

  commands(): readonly CommandSpec[] {
    if (this.#container === undefined) throw new Error('no container: setup did not finish');
    return [this.#target.exec(this.#container, ['true'])];
  }

  async verify(): Promise<void> {
    if (!(await isAlive(this.#pid))) throw new Error(`the container's init (pid ${this.#pid}) is gone`);
  }

  /** Removes the container; later calls share the first one's outcome. */
  teardown(): Promise<void> {
    this.#removed ??= this.#target.remove(this.#container);
    return this.#removed;
  }
}

async function outputOf(spec: CommandSpec): Promise<string> {
  return output(spec.file, spec.args, spec.env);
}

/** The id a `run -d` printed (its last line). */
function printedId(text: string): string {
  const id = text.split('\n').at(-1)?.trim() ?? '';
  if (id === '') throw new Error('run -d printed no container id');
  return id;
}

function pidOf(text: string): number {
  const pid = Number(text.trim());
  if (!Number.isInteger(pid)) throw new Error(`inspect printed "${text}" for the pid`);
  return pid;
}

/** `berth --root ROOT exec ID true` into `berth run -d --network none REF sleep 3600`. */
export function berthExecRunner(engines: Engines, ctx: StartContext, baseline = false): Runner {
  const e = baseline ? engines.baseline : engines.berth;
  return new ExecRunner(baseline ? 'berth-baseline-exec' : 'berth-exec', {
    label: (v) => `berth${baseline ? ' [baseline]' : ''} exec CONTAINER true${v === '' ? '' : ` (${v})`}`,
    version: () => e.version,
    prepare: () => e.ensure(),
    start: async () => printedId(await outputOf(e.spec(['run', '-d', '--network', 'none', ctx.ref, ...longRunning]))),
    exec: (id, argv) => e.spec(['exec', id, ...argv]),
    pid: async (id) => pidOf(await outputOf(e.spec(['inspect', '--format', '{{.State.Pid}}', id]))),
    remove: async (id) => {
      if (id !== undefined) await check(e.spec(['rm', '-f', id]));
    },
  });
}

/**
 * `ENGINE exec ID true` into `ENGINE run -d --network none --cgroup-parent P REF sleep 3600`,
 * for podman (with the runtime the bench chose) and docker (the private dockerd).
 */
function engineExecRunner(name: 'podman' | 'docker', e: Engines['podman'] | Engines['docker'], ctx: StartContext, rmFlags: readonly string[]): Runner {
  return new ExecRunner(`${name}-exec`, {
    label: (v) => `${name} exec CONTAINER true${v === '' ? '' : ` (${v})`}`,
    version: () => e.version,
    prepare: () => e.ensure(),
    start: async () => printedId(await outputOf(e.spec(['run', '-d', '--network', 'none', '--cgroup-parent', e.cgroupParent, ctx.ref, ...longRunning]))),
    exec: (id, argv) => e.spec(['exec', id, ...argv]),
    pid: async (id) => pidOf(await outputOf(e.spec(['inspect', '--format', '{{.State.Pid}}', id]))),
    remove: async (id) => {
      if (id !== undefined) await check(e.spec(['rm', ...rmFlags, id]));
    },
  });
}

export function podmanExecRunner(engines: Engines, ctx: StartContext): Runner {
  return engineExecRunner('podman', engines.podman, ctx, ['-f', '-t', '0']);
}

export function dockerExecRunner(engines: Engines, ctx: StartContext): Runner {
  return engineExecRunner('docker', engines.docker, ctx, ['-f']);
}

/**
 * Bare `runc --root S exec ID true` into `runc run -d` of a second unpack of the start rows'
 * bundle, set to run `sleep 3600`; state in a private `--root`. The detached container keeps
 * runc's stdio, so `run -d` is given /dev/null and a log file instead of the harness's pipes.
 */
export function runcExecRunner(ctx: StartContext): Runner {
  const binary = 'runc';
  const stateRoot = join(ctx.work, 'runc-exec-state');
  const bundle = join(ctx.work, 'runc-exec-bundle');
  const logPath = join(ctx.work, 'runc-exec-run.log');
  const container = `${ctx.tag}-runc-exec`;
  let version = '';
  const runc = (args: readonly string[]): CommandSpec => ({ file: binary, args: ['--root', stateRoot, ...args] });
  return new ExecRunner('runc-exec', {
    label: (v) => `runc exec CONTAINER true, a runc run -d of the bundle${v === '' ? '' : ` (${v})`}`,
    version: () => version,
    prepare: async () => {
      version = (await output(binary, ['--version'])).split('\n')[0]?.replace(/ version /, ' ') ?? '';
      await makeBundle(ctx.image, bundle);
      const path = join(bundle, 'config.json');
      const config = JSON.parse(await readFile(path, 'utf8')) as { process: { args: string[] } };
      config.process.args = longRunning.map((a, i) => (i === 0 ? `/bin/${a}` : a));
      await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
    },
    start: async () => {
      const run = runc(['run', '-d', '--bundle', bundle, container]);
      const script = 'log=$1; shift; exec "$@" </dev/null >/dev/null 2>>"$log"';
      const result = await runCommand({ file: 'sh', args: ['-c', script, 'sh', logPath, run.file, ...run.args] });
      if (result.code !== 0) {
        const said = lastLines(await readFile(logPath, 'utf8').catch(() => ''), 2);
        throw new CommandFailedError(run, { ...result, stderr: said });
      }
      return container;
    },
    exec: (id, argv) => runc(['exec', id, ...argv]),
    pid: async (id) => (JSON.parse(await output(binary, ['--root', stateRoot, 'state', id])) as { pid: number }).pid,
    remove: async () => {
      // Whatever the state dir holds, also a container whose `run -d` was interrupted.
      const listed = await runCommand(runc(['list', '-q']));
      const left = listed.code === 0 ? listed.stdout.split('\n').map((s) => s.trim()).filter((s) => s !== '') : [];
      try {
        for (const id of left) await check(runc(['delete', '-f', id]));
      } finally {
        const busy = await removeCgroupTree(container);
        await removeTree(stateRoot);
        await removeTree(bundle);
        if (busy.length > 0) throw new Error(`cgroups still busy: ${busy.join(', ')}`);
      }
    },
  });
}
