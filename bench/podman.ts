/**
 * `podman pull` (Debian's podman 4.3) with private configuration: its own graphroot and
 * runroot (overlay driver), containers.conf and the benchmark's registries.conf, all under
 * the runner's directory, passed through the `CONTAINERS_*` variables. The two fixes
 * PEERS.md lists (default_ulimits, conmon_env_vars) are applied though `pull` needs neither.
 */
import { mkdir, rmdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { check, exists, output, type CommandSpec } from './proc.js';
import type { Runner, RunnerContext } from './runners.js';
import { removeTree } from './teardown.js';

/** crun's default state dir, which podman's runtime probe creates even for `info`. */
const crunStateDir = '/run/crun';

/** See the module comment. */
export class PodmanRunner implements Runner {
  readonly id = 'podman';
  readonly #ctx: RunnerContext;
  readonly #env: NodeJS.ProcessEnv;
  #configured = false;
  #createdCrunDir = false;
  #version = '';

  constructor(ctx: RunnerContext) {
    this.#ctx = ctx;
    this.#env = {
      ...ctx.containersEnv,
      CONTAINERS_CONF: join(ctx.dir, 'containers.conf'),
      CONTAINERS_STORAGE_CONF: join(ctx.dir, 'storage.conf'),
    };
  }

  label(): string {
    return `podman pull${this.#version === '' ? '' : ` (${this.#version}, overlay)`}`;
  }

  async setup(): Promise<void> {
    const dir = this.#ctx.dir;
    const q = JSON.stringify;
    await writeFile(join(dir, 'storage.conf'), [
      '[storage]',
      'driver = "overlay"',
      `graphroot = ${q(join(dir, 'graph'))}`,
      `runroot = ${q(join(dir, 'run'))}`,
      '',
    ].join('\n'));
    // PEERS.md: root lacks CAP_SYS_RESOURCE here, so containers get the current hard limit.
    const hard = await output('sh', ['-c', 'ulimit -Hn']);
    await mkdir(join(dir, 'copy-tmp'));
    const conmonEnv = ['CONTAINERS_CONF', 'CONTAINERS_STORAGE_CONF', 'CONTAINERS_REGISTRIES_CONF']
      .map((k) => `${k}=${this.#env[k] ?? ''}`);
    await writeFile(join(dir, 'containers.conf'), [
      '[containers]',
      `default_ulimits = ["nofile=${hard}:${hard}", "nproc=32768:32768"]`,
      '[engine]',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      // File locks live under tmp_dir; the default shm locks would create /dev/shm/libpod_lock.
      'lock_type = "file"',
      `events_logfile_path = ${q(join(dir, 'events.log'))}`,
      `tmp_dir = ${q(join(dir, 'tmp'))}`,
      // Where pulls stage blobs before applying them (default /var/tmp); kept in our dir.
      `image_copy_tmp_dir = ${q(join(dir, 'copy-tmp'))}`,
      `conmon_env_vars = ${q(conmonEnv)}`,
      '[network]',
      `network_config_dir = ${q(join(dir, 'net'))}`,
      '',
    ].join('\n'));
    this.#configured = true;
    this.#createdCrunDir = !(await exists(crunStateDir));
    this.#version = (await output('podman', ['--version'], this.#env)).replace(/^podman version /, 'podman ');
    const driver = await output('podman', ['info', '--format', '{{.Store.GraphDriverName}}'], this.#env);
    if (driver !== 'overlay') throw new Error(`podman uses the "${driver}" storage driver, not overlay`);
  }

  async reset(): Promise<void> {
    await check({ file: 'podman', args: ['rmi', '-a', '-f'], env: this.#env });
    const left = await output('podman', ['images', '-qa'], this.#env);
    if (left !== '') throw new Error(`podman still has images after rmi -a -f: ${left.split('\n').join(' ')}`);
  }

  commands(): readonly CommandSpec[] {
    return [{ file: 'podman', args: ['pull', '-q', this.#ctx.ref], env: this.#env }];
  }

  async verify(): Promise<void> {
    const n = await output('podman', ['image', 'inspect', '--format', '{{len .RootFS.Layers}}', this.#ctx.ref], this.#env);
    const want = this.#ctx.image.layers.length;
    if (n !== String(want)) throw new Error(`podman has ${n} layers of the image, not ${want}`);
  }

  async teardown(): Promise<void> {
    try {
      // Removes graphroot and runroot, unmounting what podman mounted there.
      if (this.#configured) await check({ file: 'podman', args: ['system', 'reset', '-f'], env: this.#env });
    } finally {
      await removeTree(this.#ctx.dir);
      // Only when empty: another user of crun may have created it meanwhile and use it.
      if (this.#createdCrunDir) await rmdir(crunStateDir).catch(() => undefined);
    }
  }
}
