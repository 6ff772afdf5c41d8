/**
 * The tools the pull benchmark times, behind one {@link Runner} interface: berth, skopeo +
 * umoci, the `gzip -dc` floor and the `gzip -dc | tar -x` reference here; dockerd in docker.ts
 * and podman in podman.ts.
 */
import { access, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { layerBlobPaths, type BenchImage } from './image.js';
import { output, type CommandSpec } from './proc.js';
import { removeTree } from './teardown.js';

/** What every runner gets from the harness. */
export interface RunnerContext {
  /** The runner's own scratch directory; exists, empty, removed by the harness at the end. */
  readonly dir: string;
  /** `127.0.0.1:PORT` of the benchmark registry. */
  readonly registryHost: string;
  /** The image to pull, `127.0.0.1:PORT/bench/big:latest`. */
  readonly ref: string;
  readonly image: BenchImage;
  /** The berth checkout (holds bin/berth and dist/). */
  readonly repoRoot: string;
  /** This process's environment plus the private `CONTAINERS_REGISTRIES_CONF`. */
  readonly containersEnv: NodeJS.ProcessEnv;
}

/**
 * One tool under test. Lifecycle: `setup` once (throws if the tool cannot run here); then per
 * iteration `reset` (untimed: empty store), `commands` run one after another (timed),
 * `verify` (untimed: the image is there, unpacked); `teardown` once at the end, also after
 * a failure or Ctrl-C, and whether or not `setup` finished.
 */
export interface Runner {
  /** Short name for progress lines and `BENCH_TOOLS`. */
  readonly id: string;
  /** The table row's label; after `setup` it names the version. */
  label(): string;
  setup(): Promise<void>;
  reset(): Promise<void>;
  commands(): readonly CommandSpec[];
  verify(): Promise<void>;
  teardown(): Promise<void>;
}

/** `berth --root <fresh dir> pull -q REF`; `reset` removes the store and makes a fresh dir. */
export class BerthRunner implements Runner {
  readonly id = 'berth';
  readonly #ctx: RunnerContext;
  readonly #root: string;
  #version = '';

  constructor(ctx: RunnerContext) {
    this.#ctx = ctx;
    this.#root = join(ctx.dir, 'root');
  }

  label(): string {
    return `berth pull${this.#version === '' ? '' : ` (${this.#version})`}`;
  }

  async setup(): Promise<void> {
    const entry = join(this.#ctx.repoRoot, 'dist', 'cmd', 'main.js');
    await access(entry).catch((err: unknown) => {
      throw new Error(`berth is not built (${entry} is missing): run "npm run build"`, { cause: err });
    });
    const rev = await output('git', ['-C', this.#ctx.repoRoot, 'rev-parse', '--short', 'HEAD']).catch(() => '');
    const dirty = await output('git', ['-C', this.#ctx.repoRoot, 'status', '--porcelain', '--untracked-files=no']).catch(() => '');
    this.#version = rev === '' ? '' : `${rev}${dirty === '' ? '' : '+wip'}`;
  }

  async reset(): Promise<void> {
    await removeTree(this.#root);
    await mkdir(this.#root);
  }

  commands(): readonly CommandSpec[] {
    return [{ file: this.#berth(), args: ['--root', this.#root, 'pull', '-q', this.#ctx.ref] }];
  }

  async verify(): Promise<void> {
    const ids = await output(this.#berth(), ['--root', this.#root, 'images', '-q']);
    if (ids === '') throw new Error('berth images lists nothing after the pull');
    // README "The store": one unpacked layer per diffID under layers/<hex>/diff.
    const layers = await readdir(join(this.#root, 'layers')).catch(() => []);
    const want = this.#ctx.image.layers.length;
    if (layers.length !== want) throw new Error(`berth's store has ${layers.length} unpacked layers, not ${want}`);
  }

  async teardown(): Promise<void> {
    await removeTree(this.#root);
  }

  /** The launcher on PATH (bin/launcher.c). */
  #berth(): string {
    return join(this.#ctx.repoRoot, 'dist', 'native', 'berth');
  }
}

/** `skopeo copy docker://REF oci:DIR:latest` then `umoci unpack`, timed together. */
export class SkopeoUmociRunner implements Runner {
  readonly id = 'skopeo-umoci';
  readonly #ctx: RunnerContext;
  #version = '';

  constructor(ctx: RunnerContext) {
    this.#ctx = ctx;
  }

  label(): string {
    return `skopeo copy + umoci unpack${this.#version === '' ? '' : ` (${this.#version})`}`;
  }

  async setup(): Promise<void> {
    const skopeo = (await output('skopeo', ['--version'])).replace(/^skopeo version /, '');
    const umoci = (await output('umoci', ['--version'])).replace(/^umoci version /, '');
    this.#version = `skopeo ${skopeo}, umoci ${umoci}`;
  }

  async reset(): Promise<void> {
    await rm(join(this.#ctx.dir, 'oci'), { recursive: true, force: true });
    await removeTree(join(this.#ctx.dir, 'bundle'));
  }

  commands(): readonly CommandSpec[] {
    const layout = `${join(this.#ctx.dir, 'oci')}:latest`;
    return [
      {
        file: 'skopeo',
        args: ['copy', '--quiet', '--src-tls-verify=false', `docker://${this.#ctx.ref}`, `oci:${layout}`],
        env: this.#ctx.containersEnv,
      },
      { file: 'umoci', args: ['unpack', '--image', layout, join(this.#ctx.dir, 'bundle')] },
    ];
  }

  async verify(): Promise<void> {
    await access(join(this.#ctx.dir, 'bundle', 'config.json'));
    await access(join(this.#ctx.dir, 'bundle', 'rootfs', 'usr', 'bin'));
  }

  async teardown(): Promise<void> {
    await this.reset();
  }
}

/** The floor: `gzip -dc` of the layer blobs to /dev/null, one process, no hashing or writes. */
export class GunzipFloorRunner implements Runner {
  readonly id = 'gzip';
  readonly #ctx: RunnerContext;
  #version = '';

  constructor(ctx: RunnerContext) {
    this.#ctx = ctx;
  }

  label(): string {
    const n = this.#ctx.image.layers.length;
    return `gzip -dc of the ${n} layer blobs (floor${this.#version === '' ? '' : `, gzip ${this.#version}`})`;
  }

  async setup(): Promise<void> {
    const first = (await output('gzip', ['--version'])).split('\n')[0] ?? '';
    this.#version = first.replace(/^gzip /, '');
  }

  async reset(): Promise<void> {
    // Nothing is written.
  }

  commands(): readonly CommandSpec[] {
    return [{ file: 'gzip', args: ['-dc', ...layerBlobPaths(this.#ctx.image)], stdoutPath: '/dev/null' }];
  }

  async verify(): Promise<void> {
    // gzip checks each member's CRC and length as it decompresses; exit 0 is the check.
  }

  async teardown(): Promise<void> {
    // Nothing was started.
  }
}

/**
 * A reference for an unpacked image with plain CLI tools: each layer blob `gzip -dc | tar -x`
 * into its own directory on the stores' filesystem, all layers at once; no download,
 * hashing or fsync. Not a floor: GNU tar's per-file work is not minimal (docker beats it).
 */
export class UntarReferenceRunner implements Runner {
  readonly id = 'tar';
  readonly #ctx: RunnerContext;
  readonly #out: string;
  #version = '';

  constructor(ctx: RunnerContext) {
    this.#ctx = ctx;
    this.#out = join(ctx.dir, 'out');
  }

  label(): string {
    const n = this.#ctx.image.layers.length;
    return `gzip -dc | tar -x of the ${n} layers at once (reference${this.#version === '' ? '' : `, ${this.#version}`})`;
  }

  async setup(): Promise<void> {
    this.#version = (await output('tar', ['--version'])).split('\n')[0]?.replace(/^tar \(GNU tar\) /, 'GNU tar ') ?? '';
  }

  async reset(): Promise<void> {
    await removeTree(this.#out);
    for (let i = 0; i < this.#ctx.image.layers.length; i++) await mkdir(join(this.#out, String(i)), { recursive: true });
  }

  commands(): readonly CommandSpec[] {
    // bash: one pipeline per layer in the background; fail if any stage of any fails.
    const script = [
      'set -o pipefail; out=$1; shift; i=0; pids=()',
      'for blob in "$@"; do (gzip -dc "$blob" | tar -x -C "$out/$i") & pids+=($!); i=$((i+1)); done',
      'rc=0; for p in "${pids[@]}"; do wait "$p" || rc=1; done; exit $rc',
    ].join('\n');
    return [{ file: 'bash', args: ['-c', script, 'bash', this.#out, ...layerBlobPaths(this.#ctx.image)] }];
  }

  async verify(): Promise<void> {
    for (let i = 0; i < this.#ctx.image.layers.length; i++) await access(join(this.#out, String(i), 'usr'));
  }

  async teardown(): Promise<void> {
    await removeTree(this.#out);
  }
}
