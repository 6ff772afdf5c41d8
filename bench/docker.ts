/**
 * `docker pull` against a dockerd the harness starts itself (Debian's docker.io 20.10 and
 * containerd), with its own data-root, exec-root, pidfile and socket, no bridge and no
 * iptables, overlay2, and the benchmark registry marked insecure. Driven with Debian's
 * `/usr/bin/docker` CLI (the first `docker` on PATH may be a newer client).
 */
import { readFile, rm, writeFile, mkdir } from 'node:fs/promises';
import { request } from 'node:http';
import { join } from 'node:path';
import { exists, lastLines, output, runCommand, startDaemon, stopPid, waitFor, type CommandSpec, type Daemon } from './proc.js';
import type { Runner, RunnerContext } from './runners.js';
import { removeTree } from './teardown.js';

/** The daemon's API socket; fixed so a leftover one is easy to find. */
export const dockerSocket = '/run/berth-bench-docker.sock';

/** Debian's CLI, matching dockerd 20.10. */
const dockerCli = '/usr/bin/docker';

/**
 * Host paths dockerd 20.10 creates whatever its flags say: the libtrust key and the plugin
 * socket dir. Removed at teardown when they did not exist before the harness started it.
 */
const hostPaths = ['/etc/docker/key.json', '/run/docker'];

/** See the module comment. */
export class DockerRunner implements Runner {
  readonly id = 'docker';
  readonly #ctx: RunnerContext;
  readonly #env: NodeJS.ProcessEnv;
  #daemon: Daemon | undefined;
  #createdPaths: string[] = [];
  #version = '';

  constructor(ctx: RunnerContext) {
    this.#ctx = ctx;
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_CONFIG: join(ctx.dir, 'cli') };
    delete env['DOCKER_HOST'];
    delete env['DOCKER_CONTEXT'];
    this.#env = env;
  }

  label(): string {
    return `docker pull${this.#version === '' ? '' : ` (dockerd ${this.#version}, overlay2)`}`;
  }

  async setup(): Promise<void> {
    if (!(await exists(dockerCli))) throw new Error(`${dockerCli} is missing: apt-get install docker.io`);
    if (await ping()) throw new Error(`another dockerd already listens on ${dockerSocket}`);
    await rm(dockerSocket, { force: true });
    this.#createdPaths = [];
    for (const p of hostPaths) if (!(await exists(p))) this.#createdPaths.push(p);
    const dir = this.#ctx.dir;
    await mkdir(join(dir, 'cli'));
    await writeFile(join(dir, 'daemon.json'), '{}\n');
    const args = [
      '--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec'), '--pidfile', join(dir, 'dockerd.pid'),
      '-H', `unix://${dockerSocket}`, '--config-file', join(dir, 'daemon.json'),
      '--bridge=none', '--iptables=false', '--storage-driver', 'overlay2',
      '--insecure-registry', this.#ctx.registryHost, '--log-level', 'warn',
    ];
    const logPath = join(dir, 'dockerd.log');
    const daemon = await startDaemon({ file: 'dockerd', args }, logPath);
    this.#daemon = daemon;
    try {
      await waitFor('dockerd answering on its socket', 30_000, async () => {
        if (daemon.hasExited()) throw new Error('it exited');
        return ping();
      });
    } catch (err) {
      const log = await readFile(logPath, 'utf8').catch(() => '');
      const why = err instanceof Error ? err.message : String(err);
      throw new Error(`dockerd failed: ${why}: ${lastLines(log, 3)}`);
    }
    this.#version = await this.#docker(['version', '--format', '{{.Server.Version}}']);
  }

  async reset(): Promise<void> {
    // rmi fails when the image is absent (first iteration); prune is what must succeed.
    await runCommand(this.#spec(['rmi', '-f', this.#ctx.ref]));
    await this.#docker(['image', 'prune', '-af']);
    const left = await this.#docker(['images', '-qa']);
    if (left !== '') throw new Error(`docker still has images after rmi and prune: ${left.split('\n').join(' ')}`);
  }

  commands(): readonly CommandSpec[] {
    return [this.#spec(['pull', '-q', this.#ctx.ref])];
  }

  async verify(): Promise<void> {
    const n = await this.#docker(['image', 'inspect', '--format', '{{len .RootFS.Layers}}', this.#ctx.ref]);
    const want = this.#ctx.image.layers.length;
    if (n !== String(want)) throw new Error(`docker has ${n} layers of the image, not ${want}`);
  }

  async teardown(): Promise<void> {
    const daemon = this.#daemon;
    if (daemon !== undefined) {
      // dockerd stops its managed containerd on SIGTERM; kill it by its pid file if it lingers.
      const pidText = await readFile(join(this.#ctx.dir, 'exec', 'containerd', 'containerd.pid'), 'utf8').catch(() => '');
      await daemon.stop(20_000);
      const containerdPid = Number.parseInt(pidText.trim(), 10);
      if (Number.isInteger(containerdPid) && containerdPid > 1) await stopContainerd(containerdPid, this.#ctx.dir);
      // Only ours: when setup found another daemon on the socket, it never got here.
      await rm(dockerSocket, { force: true });
    }
    for (const p of this.#createdPaths) await rm(p, { recursive: true, force: true });
    await removeTree(this.#ctx.dir);
  }

  #spec(args: readonly string[]): CommandSpec {
    return { file: dockerCli, args: ['-H', `unix://${dockerSocket}`, ...args], env: this.#env };
  }

  async #docker(args: readonly string[]): Promise<string> {
    const spec = this.#spec(args);
    return output(spec.file, spec.args, spec.env);
  }
}

/** Stops `pid` only if it is still the containerd that dockerd started, configured under `dir`. */
async function stopContainerd(pid: number, dir: string): Promise<void> {
  const argv = (await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')).split('\0');
  const isOurs = (argv[0] ?? '').endsWith('containerd') && argv.some((a) => a.startsWith(`${dir}/`));
  if (isOurs) await stopPid(pid);
}

/** True when a daemon answers `GET /_ping` on {@link dockerSocket}. */
function ping(): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ socketPath: dockerSocket, path: '/_ping', timeout: 2_000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => {
      req.destroy();
      resolve(false);
    });
    req.end();
  });
}
