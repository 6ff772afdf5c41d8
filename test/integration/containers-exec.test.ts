/**
 * exec (with and without a terminal), run -t, --init, named volumes, --runtime runc, the
 * OCI command line, top, system prune, and a foreground run whose berth is killed.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthBin } from '../helpers/berth.js';
import { parseProbe, setUpContainers, sleep, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';
import { withTerminal } from '../helpers/terminal.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'script', 'runc', 'umoci'] });

describe.skipIf(skip !== undefined)('exec, terminals, init, volumes, other runtimes', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('exec');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  it.concurrent('exec runs in the container\'s namespaces and cgroup, as its user, with its status', async ({ expect }) => {
    await h.withContainer(['-u', 'app', '-e', 'FROM_RUN=1'], ['sleep', '60'], async (id) => {
      const result = await h.berth(['exec', '-e', 'FROM_EXEC=2', id, '/probe']);
      expect(result.code).toBe(0);
      const report = parseProbe(result.stdout);
      expect(report.uid).toBe(1000);
      expect(report.hostname).toBe(id.slice(0, 12));
      expect(report.env).toContain('FROM_RUN=1');
      expect(report.env).toContain('FROM_EXEC=2');
      // Not PID 1: the container's sleep is.
      expect(report.pid).toBeGreaterThan(1);
      expect(report.fds.map((f) => f.fd).sort()).toEqual([0, 1, 2]);
      expect((await h.berth(['exec', id, 'sh', '-c', 'exit 7'])).code).toBe(7);
      expect((await h.berth(['exec', '-u', 'root', id, 'id', '-u'])).stdout.trim()).toBe('0');
      const missing = await h.berth(['exec', id, 'no-such-command']);
      expect(missing.code).toBe(127);
      expect(missing.stderr).toContain('executable file not found');
      const stdin = await h.berth(['exec', '-i', id, 'cat'], { input: 'piped\n' });
      expect(stdin.stdout).toBe('piped\n');
    });
  });

  it.concurrent('exec of a container that is not running fails with 125', async ({ expect }) => {
    const id = await h.runDetached([], ['true']);
    try {
      await h.berthOk(['wait', id]);
      const result = await h.berth(['exec', id, 'true']);
      expect(result.code).toBe(125);
      expect(result.stderr).toContain('is not running');
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('run -t and exec -t give a terminal from the container\'s own devpts', async ({ expect }) => {
    const run = await withTerminal(`${berthBin} --root ${h.root} run --rm -t ${h.image} sh -c 'tty; ls -l /dev/console; exit 4'`);
    expect(run.code).toBe(4);
    expect(run.output).toContain('/dev/pts/0');
    await h.withContainer([], ['sleep', '60'], async (id) => {
      const exec = await withTerminal(`${berthBin} --root ${h.root} exec -it ${id} sh`, 'echo $((6*7)); tty; exit 3\n');
      expect(exec.code).toBe(3);
      expect(exec.output).toContain('42');
      expect(exec.output).toMatch(/\/dev\/pts\/\d/);
    });
  });

  it.concurrent('--init runs an init as PID 1 that reaps orphans and forwards the stop signal', async ({ expect }) => {
    const shown = await h.berthOk(['run', '--rm', '--init', h.image, 'sh', '-c', '(sleep 0 &); sleep 0.2; ps -o pid,stat,comm']);
    // The orphaned sleep was reaped: no zombie left.
    expect(shown.stdout).not.toMatch(/\bZ\b/);
    const id = await h.runDetached(['--init'], ['sleep', '60']);
    try {
      const started = Date.now();
      await h.berthOk(['stop', '-t', '10', id]);
      // sleep has no handler, but it is not PID 1: SIGTERM ends it at once.
      expect(Date.now() - started).toBeLessThan(5000);
      expect(((await h.inspect(id))['State'] as { ExitCode: number }).ExitCode).toBe(143);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('stop --signal sends that signal instead of the container\'s stop signal', async ({ expect }) => {
    const id = await h.runDetached([], ['sh', '-c', 'trap "exit 5" TERM; trap "exit 6" USR1; while true; do sleep 0.1; done']);
    try {
      await sleep(300);
      await h.berthOk(['stop', '-s', 'USR1', '-t', '10', id]);
      expect(((await h.inspect(id))['State'] as { ExitCode: number }).ExitCode).toBe(6);
      const bad = await h.berth(['stop', '-s', 'NOPE', id]);
      expect(bad.code).toBe(125);
      expect(bad.stderr).toContain('Invalid signal');
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('named volumes keep data across containers and rm -v removes anonymous ones', async ({ expect }) => {
    const name = `vol-${Math.random().toString(16).slice(2, 10)}`;
    await h.berthOk(['run', '--rm', '-v', `${name}:/data`, h.image, 'sh', '-c', 'echo kept > /data/f']);
    expect((await h.berthOk(['run', '--rm', '-v', `${name}:/data`, h.image, 'cat', '/data/f'])).stdout).toBe('kept\n');
    expect((await h.berthOk(['volume', 'ls', '-q'])).stdout.split('\n')).toContain(name);
    const inspect = JSON.parse((await h.berthOk(['volume', 'inspect', name])).stdout) as { Mountpoint: string }[];
    expect(inspect[0]?.Mountpoint).toBe(join(h.root, 'volumes', name, '_data'));
    const user = await h.runDetached(['-v', `${name}:/data`], ['sleep', '60']);
    try {
      const refused = await h.berth(['volume', 'rm', name]);
      expect(refused.code).toBe(125);
      expect(refused.stderr).toContain('in use');
    } finally {
      await h.removeQuietly(user);
    }
    await h.berthOk(['volume', 'rm', name]);
    expect((await h.berthOk(['volume', 'ls', '-q'])).stdout.split('\n')).not.toContain(name);
  });

  it.concurrent('--runtime runc runs the same image under berth\'s monitor', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '--runtime', 'runc', h.image, 'sh', '-c', 'echo from-runc; exit 6']);
    expect(result.stdout).toContain('from-runc');
    expect(result.code).toBe(6);
  });

  it.concurrent('top lists the container\'s processes from its cgroup', async ({ expect }) => {
    await h.withContainer([], ['sh', '-c', 'sleep 61 & sleep 62'], async (id) => {
      await sleep(200);
      const top = await h.berthOk(['top', id]);
      expect(top.stdout).toContain('sleep 61');
      expect(top.stdout).toContain('sleep 62');
      expect(top.stdout.split('\n')[0]).toMatch(/^UID\s+PID\s+PPID/);
    });
  });

  it.concurrent('a foreground run --rm whose berth is killed is still removed by its monitor', async ({ expect }) => {
    const name = `killed-${Math.random().toString(16).slice(2, 10)}`;
    const child = spawn(berthBin, ['--root', h.root, 'run', '--rm', '--name', name, h.image, 'sleep', '1'], { stdio: 'ignore' });
    await h.waitForLog(name, '', 10_000).catch(() => undefined);
    await sleep(300);
    child.kill('SIGKILL');
    const deadline = Date.now() + 15_000;
    let listed = true;
    while (Date.now() < deadline) {
      listed = (await h.berthOk(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').includes(name);
      if (!listed) break;
      await sleep(200);
    }
    expect(listed).toBe(false);
  });

  it.concurrent('cp copies both ways, diff lists what the container changed', async ({ expect }) => {
    await h.withContainer([], ['sh', '-c', 'echo made > /made; rm /bin/vi; sleep 60'], async (id) => {
      await h.waitForLog(id, '', 2000).catch(() => undefined);
      await sleep(300);
      const host = join(h.work, `cp-${id.slice(0, 8)}`);
      await writeFile(host, 'from host\n');
      await h.berthOk(['cp', host, `${id}:/tmp/in`]);
      expect((await h.berthOk(['exec', id, 'cat', '/tmp/in'])).stdout).toBe('from host\n');
      await h.berthOk(['cp', `${id}:/made`, `${host}-out`]);
      expect(await readFile(`${host}-out`, 'utf8')).toBe('made\n');
      const missing = await h.berth(['cp', `${id}:/no/such`, `${host}-x`]);
      expect(missing.code).toBe(125);
      expect(missing.stderr).toContain('Could not find the file /no/such');
      const diff = (await h.berthOk(['diff', id])).stdout.split('\n').filter((l) => l !== '');
      expect(diff).toContain('A /made');
      expect(diff).toContain('D /bin/vi');
      expect(diff).toContain('A /tmp/in');
      // berth's own mount points are not the container's changes.
      expect(diff).not.toContain('A /etc/hosts');
      expect(diff).not.toContain('A /proc');
    });
  });

  it('system prune removes stopped containers and what a crash left behind', async () => {
    const id = await h.runDetached([], ['true']);
    await h.berthOk(['wait', id]);
    // A container directory with no record, as a create killed at the wrong moment leaves.
    const orphan = 'f'.repeat(64);
    const { mkdir } = await import('node:fs/promises');
    await mkdir(join(h.root, 'containers', orphan, 'upper'), { recursive: true });
    const result = await h.berthOk(['system', 'prune']);
    expect(result.stdout).toContain(id);
    expect(result.stdout).toContain(`container directory ${orphan}`);
    expect((await h.listIds())).not.toContain(id);
  });
});

describe.skipIf(skip !== undefined)('berth oci', () => {
  let h: ContainerHarness;
  let work: string;

  beforeAll(async () => {
    h = await setUpContainers('oci');
    work = await mkdtemp(join(tmpdir(), 'berth-oci-'));
  });

  afterAll(async () => {
    await h?.cleanup();
    if (work !== undefined) await rm(work, { recursive: true, force: true });
  });

  it('create, state, start, exec, kill and delete follow the runtime spec', async () => {
    // A bundle from the test image: its rootfs and a config.json that berth writes for run
    // (with --network none: on a network, the config joins that container's own namespace).
    const id = await h.runDetached(['--network', 'none'], ['sleep', '60']);
    const config = JSON.parse(await readFile(join(h.containerDir(id), 'config.json'), 'utf8')) as Record<string, unknown> & { root: { path: string }; process: { args: string[] }; linux: Record<string, unknown> };
    const rootfs = join(work, 'rootfs');
    await (await import('node:fs/promises')).mkdir(rootfs);
    // The image's layers, bottom first, copied into one directory (the test image has no whiteouts).
    const graph = (await h.inspect(id))['GraphDriver'] as { Data: { LowerDir: string } };
    for (const layer of graph.Data.LowerDir.split(':').reverse()) {
      await new Promise<void>((resolve, reject) => {
        const cp = spawn('cp', ['-a', `${layer}/.`, rootfs], { stdio: 'ignore' });
        cp.once('close', (code) => (code === 0 ? resolve() : reject(new Error(`cp exited ${code}`))));
      });
    }
    await h.removeQuietly(id);
    config.root = { path: 'rootfs' };
    config.process.args = ['sh', '-c', 'echo started; sleep 60'];
    config['mounts'] = (config['mounts'] as { destination: string }[]).filter((m) => !m.destination.startsWith('/etc/'));
    config.linux['cgroupsPath'] = `/berth-oci-test-${process.pid}/c1`;
    await writeFile(join(work, 'config.json'), JSON.stringify(config));
    // h.berth puts the store's --root first; oci's own --root (its state) comes after `oci`.
    const oci = (args: string[]) => h.berth(['oci', '--root', join(work, 'state'), '--log', join(work, 'log.json'), '--log-format', 'json', ...args]);
    // create hands its stdio to the container (as runc does): give it a file, not a pipe
    // that would stay open as long as the container runs.
    const { openSync, closeSync } = await import('node:fs');
    const out = openSync(join(work, 'out.txt'), 'a');
    const createCode = await new Promise<number>((resolve) => {
      const child = spawn(berthBin, ['--root', h.root, 'oci', '--root', join(work, 'state'), 'create', '--bundle', work, '--pid-file', join(work, 'pid'), 'c1'], { stdio: ['ignore', out, out] });
      child.once('close', (code) => resolve(code ?? -1));
    });
    closeSync(out);
    try {
      // Inside the try: a create that fails half way may still leave the cgroup parent.
      expect(createCode).toBe(0);
      const state = JSON.parse((await oci(['state', 'c1'])).stdout) as { status: string; pid: number; ociVersion: string; bundle: string };
      expect(state.status).toBe('created');
      expect(state.pid).toBe(Number(await readFile(join(work, 'pid'), 'utf8')));
      expect(state.bundle).toBe(work);
      const refused = await oci(['delete', 'c1']);
      expect(refused.code).not.toBe(0);
      expect((await readFile(join(work, 'log.json'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l) as { level: string }).at(-1)?.level).toBe('error');
      expect((await oci(['start', 'c1'])).code).toBe(0);
      expect((JSON.parse((await oci(['state', 'c1'])).stdout) as { status: string }).status).toBe('running');
      await sleep(200);
      expect(await readFile(join(work, 'out.txt'), 'utf8')).toContain('started');
      const exec = await oci(['exec', '--pid-file', join(work, 'exec.pid'), 'c1', 'sh', '-c', 'echo in-c1; exit 2']);
      expect(exec.stdout).toContain('in-c1');
      expect(exec.code).toBe(2);
      expect(Number(await readFile(join(work, 'exec.pid'), 'utf8'))).toBeGreaterThan(0);
      // kill --all reaches every process of the container through its cgroup.
      await oci(['exec', '-d', 'c1', 'sleep', '60']);
      expect((await oci(['kill', '--all', 'c1', 'KILL'])).code).toBe(0);
      expect((await oci(['kill', 'c1', 'KILL'])).code).toBe(0);
      const deadline = Date.now() + 5000;
      let status = '';
      while (Date.now() < deadline && status !== 'stopped') {
        status = (JSON.parse((await oci(['state', 'c1'])).stdout) as { status: string }).status;
        await sleep(20);
      }
      expect(status).toBe('stopped');
    } finally {
      await oci(['delete', '--force', 'c1']);
      // The test's own cgroup parent, in every hierarchy.
      const { readdir, rmdir } = await import('node:fs/promises');
      for (const hierarchy of await readdir('/sys/fs/cgroup')) {
        await rmdir(join('/sys/fs/cgroup', hierarchy, `berth-oci-test-${process.pid}`)).catch(() => undefined);
      }
    }
    expect((await oci(['state', 'c1'])).code).not.toBe(0);
    const features = JSON.parse((await h.berthOk(['oci', 'features'])).stdout) as { ociVersionMin: string; linux: { namespaces: string[] } };
    expect(features.linux.namespaces).toContain('pid');
  });
});
