/**
 * Container lifecycle through the CLI, as docker does it: run -d, create/start, ps, name
 * and id-prefix lookups, name conflicts, rm with and without -f, --rm, restart with the
 * same writable layer, wait, rename and inspect.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { berthBin } from '../helpers/berth.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpContainers, sleep, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

describe.skipIf(skip !== undefined)('container lifecycle', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('lifecycle');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  /** The `ps -a` row of one container, by name (table format). */
  async function psRow(name: string, all = true): Promise<string | undefined> {
    const out = (await h.berthOk(['ps', ...(all ? ['-a'] : []), '--no-trunc'])).stdout;
    return out.split('\n').find((line) => line.trimEnd().endsWith(` ${name}`));
  }

  async function gone(id: string, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const listed = (await h.listIds()).includes(id);
      if (!listed && !existsSync(h.containerDir(id))) return true;
      if (Date.now() >= deadline) return false;
      await sleep(100);
    }
  }

  it.concurrent('run -d prints the 64-hex id; ps shows the container Up, then ps -a shows Exited (N) ... ago', async ({ expect }) => {
    const name = 'life-ps';
    const result = await h.berthOk(['run', '-d', '--name', name, h.image, 'sleep', '100']);
    const id = result.stdout.trim();
    try {
      expect(result.stdout).toMatch(/^[0-9a-f]{64}\n$/);
      const up = await psRow(name, false);
      expect(up).toBeDefined();
      expect(up).toContain(id);
      expect(up).toMatch(/ Up (Less than a second|\d+ seconds?) /);
      expect(up).toContain('probe:test');
      await h.berthOk(['kill', '-s', 'KILL', name]);
      await h.berthOk(['wait', name]);
      expect(await psRow(name, false)).toBeUndefined();
      const exited = await psRow(name);
      expect(exited).toMatch(/ Exited \(137\) (Less than a second|\d+ seconds?) ago /);
      const quiet = (await h.berthOk(['ps', '-a', '-q', '--filter', `name=${name}`])).stdout;
      expect(quiet).toBe(`${id.slice(0, 12)}\n`);
      expect((await h.berthOk(['ps', '-a', '--filter', 'status=exited', '--format', '{{.Names}}'])).stdout.split('\n')).toContain(name);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('finds a container by name and by id prefix in every command', async ({ expect }) => {
    const created = await h.berthOk(['create', '--name', 'life-lookup', h.image, 'sh', '-c', 'echo hello; sleep 100']);
    const id = created.stdout.trim();
    const prefix = id.slice(0, 7);
    try {
      expect(id).toMatch(/^[0-9a-f]{64}$/);
      expect((await h.berthOk(['inspect', '-f', '{{.State.Status}}', prefix])).stdout.trim()).toBe('created');
      await h.berthOk(['start', prefix]);
      expect((await h.berthOk(['inspect', '-f', '{{.State.Status}}', 'life-lookup'])).stdout.trim()).toBe('running');
      await h.waitForLog(prefix, 'hello');
      expect((await h.berthOk(['logs', 'life-lookup'])).stdout).toBe('hello\n');
      expect((await h.berthOk(['ps', '-q', '--filter', `id=${prefix}`])).stdout.trim()).toBe(id.slice(0, 12));
      await h.berthOk(['rename', prefix, 'life-lookup-2']);
      await h.berthOk(['restart', '-t', '0', 'life-lookup-2']);
      expect((await h.berthOk(['inspect', '-f', '{{.State.Status}}', prefix])).stdout.trim()).toBe('running');
      await h.berthOk(['stop', '-t', '0', prefix]);
      expect((await h.berthOk(['wait', 'life-lookup-2'])).stdout.trim()).toBe('137');
      await h.berthOk(['start', 'life-lookup-2']);
      await h.berthOk(['kill', prefix]);
      expect((await h.berthOk(['wait', prefix])).stdout.trim()).toBe('137');
      expect((await h.berthOk(['container', 'inspect', '-f', '{{.Name}}', prefix])).stdout.trim()).toBe('/life-lookup-2');
      expect((await h.berthOk(['container', 'rm', prefix])).stdout.trim()).toBe(prefix);
      expect((await h.berth(['inspect', id])).code).toBe(125);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent("refuses a name in use with 125 and docker's message", async ({ expect }) => {
    await h.withContainer(['--name', 'life-dup'], ['sleep', '30'], async (id) => {
      const result = await h.berth(['run', '-d', '--name', 'life-dup', h.image, 'true']);
      expect(result.code).toBe(125);
      expect(result.stderr).toContain(`Conflict. The container name "/life-dup" is already in use by container "${id}"`);
      expect(result.stderr).toMatch(/[Rr]emove \(or rename\) that container to be able to reuse that name/);
      expect((await h.berthOk(['ps', '-a', '-q', '--no-trunc', '--filter', 'name=life-dup'])).stdout).toBe(`${id}\n`);
    });
  });

  it.concurrent('rm refuses a running container without -f (125) and rm -f removes it with its directory and cgroups', async ({ expect }) => {
    const id = await h.runDetached(['--name', 'life-rm'], ['sleep', '100']);
    try {
      const refused = await h.berth(['rm', 'life-rm']);
      expect(refused.code).toBe(125);
      expect(refused.stderr).toContain(`You cannot remove a running container ${id}`);
      expect((await h.berthOk(['inspect', '-f', '{{.State.Running}}', id])).stdout.trim()).toBe('true');
      const pid = Number((await h.berthOk(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim());
      expect(pid).toBeGreaterThan(0);
      expect(await h.cgroupLeaves([id])).not.toEqual([]);
      const removed = await h.berthOk(['rm', '-f', 'life-rm']);
      expect(removed.stdout.trim()).toBe('life-rm');
      expect(await h.listIds()).not.toContain(id);
      expect(existsSync(h.containerDir(id))).toBe(false);
      expect(existsSync(`/proc/${pid}`)).toBe(false);
      expect(await h.cgroupLeaves([id])).toEqual([]);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('--rm removes the container and its directory after it exits, in the foreground and with -d', async ({ expect }) => {
    // The container prints its host name, the first 12 characters of its id.
    const foreground = await h.berth(['run', '--rm', '--name', 'life-rm-fg', h.image, 'sh', '-c', 'hostname; exit 4']);
    expect(foreground.code, foreground.stderr).toBe(4);
    const prefix = foreground.stdout.trim();
    expect(prefix).toMatch(/^[0-9a-f]{12}$/);
    expect((await h.berth(['inspect', 'life-rm-fg'])).code).toBe(125);
    await sleep(100); // let the directory watch catch up
    const fgId = [...h.seenIds()].find((seen) => seen.startsWith(prefix));
    expect(fgId).toBeDefined();
    expect(existsSync(h.containerDir(fgId ?? ''))).toBe(false);
    expect(await h.cgroupLeaves([fgId ?? ''])).toEqual([]);
    const id = (await h.berthOk(['run', '-d', '--rm', h.image, 'sh', '-c', 'trap "exit 0" TERM; echo ready; while :; do sleep 0.1; done'])).stdout.trim();
    try {
      expect((await h.berthOk(['inspect', '-f', '{{.HostConfig.AutoRemove}}', id])).stdout.trim()).toBe('true');
      await h.waitForLog(id, 'ready');
      await h.berthOk(['kill', '-s', 'TERM', id]);
      // The monitor removes it (its exit command), with nobody waiting for it.
      expect(await gone(id, 15_000)).toBe(true);
      expect(await h.cgroupLeaves([id])).toEqual([]);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('restart runs an exited container again on the same writable layer', async ({ expect }) => {
    const command = ['sh', '-c', 'echo run >> /runs; echo "runs: $(wc -l < /runs)"'];
    const id = (await h.berthOk(['run', '-d', '--name', 'life-restart', h.image, ...command])).stdout.trim();
    try {
      expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('0');
      expect((await h.berthOk(['logs', id])).stdout).toBe('runs: 1\n');
      const upper = ((await h.inspect(id))['GraphDriver'] as { Data: { UpperDir: string } }).Data.UpperDir;
      expect(existsSync(`${upper}/runs`)).toBe(true);
      await h.berthOk(['restart', 'life-restart']);
      expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('0');
      expect((await h.berthOk(['logs', id])).stdout).toBe('runs: 1\nruns: 2\n');
      await h.berthOk(['start', 'life-restart']);
      expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('0');
      expect((await h.berthOk(['logs', id])).stdout).toBe('runs: 1\nruns: 2\nruns: 3\n');
      expect((await h.berthOk(['ps', '-a', '-q', '--no-trunc'])).stdout).toContain(id);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('restart of a running container stops it and starts a new process', async ({ expect }) => {
    await h.withContainer([], ['sleep', '100'], async (id) => {
      const before = Number((await h.berthOk(['inspect', '-f', '{{.State.Pid}}', id])).stdout.trim());
      await h.berthOk(['restart', '-t', '1', id]);
      const state = (await h.inspect(id))['State'] as { Status: string; Pid: number };
      expect(state.Status).toBe('running');
      expect(state.Pid).toBeGreaterThan(0);
      expect(state.Pid).not.toBe(before);
      expect(existsSync(`/proc/${before}`)).toBe(false);
    });
  });

  it.concurrent('wait prints the exit code and exits 0', async ({ expect }) => {
    const id = await h.runDetached([], ['sh', '-c', 'sleep 0.3; exit 42']);
    try {
      const waited = await h.berth(['wait', id]);
      expect(waited.code).toBe(0);
      expect(waited.stdout).toBe('42\n');
      // Waiting for a container that has already exited answers at once.
      expect((await h.berthOk(['wait', id])).stdout).toBe('42\n');
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('rename changes the name; the old name is gone and a taken name is refused', async ({ expect }) => {
    await h.withContainer(['--name', 'life-old'], ['sleep', '30'], async (id) => {
      await h.withContainer(['--name', 'life-taken'], ['sleep', '30'], async () => {
        await h.berthOk(['rename', 'life-old', 'life-new']);
        expect((await h.berthOk(['inspect', '-f', '{{.Name}}', id])).stdout.trim()).toBe('/life-new');
        const old = await h.berth(['inspect', 'life-old']);
        expect(old.code).toBe(125);
        expect(old.stderr).toMatch(/No such (object|container): life-old/);
        const taken = await h.berth(['rename', 'life-new', 'life-taken']);
        expect(taken.code).toBe(125);
        expect(taken.stderr).toContain('life-taken');
        expect((await h.berthOk(['inspect', '-f', '{{.Name}}', id])).stdout.trim()).toBe('/life-new');
      });
    });
  });

  it.concurrent('inspect shows state, name, command, host config and the graph driver', async ({ expect }) => {
    const command = ['sh', '-c', 'trap "exit 6" TERM; echo ready; while :; do sleep 0.1; done'];
    const id = await h.runDetached(['--name', 'life-inspect', '-l', 'suite=lifecycle'], command);
    try {
      const running = await h.inspect('life-inspect');
      expect(running['Id']).toBe(id);
      expect(running['Name']).toBe('/life-inspect');
      const state = running['State'] as Record<string, unknown>;
      expect(state).toMatchObject({ Status: 'running', Running: true });
      expect(state['Pid']).toBeGreaterThan(0);
      expect(existsSync(`/proc/${String(state['Pid'])}`)).toBe(true);
      const config = running['Config'] as Record<string, unknown>;
      expect(config['Cmd']).toEqual(command);
      expect(config['Image']).toBe('probe:test');
      expect(config['Labels']).toMatchObject({ suite: 'lifecycle' });
      expect((running['HostConfig'] as Record<string, unknown>)['AutoRemove']).toBe(false);
      const graph = running['GraphDriver'] as { Name: string; Data: { UpperDir: string; MergedDir: string } };
      expect(graph.Name).toBe('overlay2');
      expect(graph.Data.UpperDir.startsWith(h.containerDir(id))).toBe(true);
      expect(existsSync(graph.Data.UpperDir)).toBe(true);
      expect((await h.berthOk(['ps', '-q', '--no-trunc', '--filter', 'label=suite=lifecycle'])).stdout).toBe(`${id}\n`);
      expect((await h.berthOk(['ps', '-q', '--no-trunc', '--filter', 'ancestor=probe:test', '--filter', 'name=life-inspect'])).stdout).toBe(`${id}\n`);
      await h.waitForLog(id, 'ready');
      await h.berthOk(['kill', '-s', 'TERM', id]);
      expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('6');
      const exited = await h.inspect(id);
      expect(exited['State']).toMatchObject({ Status: 'exited', Running: false, ExitCode: 6, Pid: 0 });
      expect((await h.berthOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', id])).stdout).toBe('exited 6\n');
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('create makes a stopped container and start -a runs it attached with its status, also again once exited', async ({ expect }) => {
    const id = (await h.berthOk(['create', '--name', 'life-create', h.image, 'sh', '-c', 'echo attached; exit 2'])).stdout.trim();
    try {
      expect(await psRow('life-create')).toMatch(/ Created /);
      expect(await psRow('life-create', false)).toBeUndefined();
      const started = await h.berth(['start', '-a', 'life-create'], { timeoutMs: 20_000 });
      expect(started.code).toBe(2);
      expect(started.stdout).toBe('attached\n');
      expect((await h.berthOk(['inspect', '-f', '{{.State.ExitCode}}', id])).stdout.trim()).toBe('2');
      // Started again once exited, it is attached to before it runs: none of its output is lost.
      for (let i = 0; i < 3; i++) {
        const again = await h.berth(['start', '-a', 'life-create'], { timeoutMs: 20_000 });
        expect([again.code, again.stdout, again.stderr]).toEqual([2, 'attached\n', '']);
      }
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('run -d leaves none of its caller\'s descriptors open in the monitor', async ({ expect }) => {
    // fd 3 is a pipe from this test: while anything holds its write end, it does not end.
    const child = spawn(berthBin, ['--root', h.root, 'run', '-d', '--name', 'life-fds', h.image, 'sleep', '60'], { stdio: ['ignore', 'pipe', 'pipe', 'pipe'] });
    try {
      const extra = child.stdio[3] as NodeJS.ReadableStream;
      extra.resume();
      const ended = new Promise<boolean>((resolve) => {
        extra.once('end', () => resolve(true));
        setTimeout(() => resolve(false), 10_000);
      });
      expect(await ended).toBe(true);
      expect((await h.berthOk(['inspect', '-f', '{{.State.Running}}', 'life-fds'])).stdout).toBe('true\n');
      // Nor does the created container hold berth's own pipes: create returns at once.
      const created = await h.berth(['create', '--name', 'life-fds-created', h.image, 'true'], { timeoutMs: 5000 });
      expect([created.code, created.timedOut]).toEqual([0, false]);
    } finally {
      await h.removeQuietly('life-fds', 'life-fds-created');
    }
  });

  it.concurrent('attach by id prefix streams the output and ends with the container\'s status', async ({ expect }) => {
    const command = ['sh', '-c', 'trap "echo bye; exit 3" TERM; while :; do echo tick; sleep 0.2; done'];
    await h.withContainer([], command, async (id) => {
      const attached = h.berth(['attach', id.slice(0, 10)], { timeoutMs: 30_000 });
      await sleep(3000);
      await h.berthOk(['kill', '-s', 'TERM', id]);
      const result = await attached;
      expect(result.timedOut).toBe(false);
      expect(result.code).toBe(3);
      expect(result.stdout).toContain('tick\n');
      expect(result.stdout.endsWith('bye\n')).toBe(true);
    });
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
