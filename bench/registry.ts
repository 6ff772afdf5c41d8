/**
 * The benchmark's registry: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, a
 * free port, storage in the run's work dir, seeded with `skopeo copy` from the OCI layout.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { log } from './harness.js';
import { check, sleep, startDaemon, type Daemon } from './proc.js';
import type { Teardown } from './teardown.js';

/** A running registry. Lifecycle: started by {@link startRegistry}; `stop()` kills its pid. */
export interface BenchRegistry {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  readonly daemon: Daemon;
  stop(): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('Cannot find a free port');
  return address.port;
}

/** Starts a registry with its files under `dir`; resolves once `/v2/` answers. */
export async function startRegistry(dir: string): Promise<BenchRegistry> {
  await mkdir(join(dir, 'storage'), { recursive: true });
  for (let attempt = 1; attempt <= 5; attempt++) {
    const port = await freePort();
    const configPath = join(dir, 'config.yml');
    const logPath = join(dir, `registry-${attempt}.log`);
    // distribution's configuration.md; JSON strings are valid YAML scalars.
    await writeFile(configPath, [
      'version: 0.1',
      'log: { level: error, accesslog: { disabled: true } }',
      `storage: { filesystem: { rootdirectory: ${JSON.stringify(join(dir, 'storage'))} } }`,
      `http: { addr: "127.0.0.1:${port}" }`,
      '',
    ].join('\n'));
    const daemon = await startDaemon({ file: 'docker-registry', args: ['serve', configPath] }, logPath);
    const deadline = Date.now() + 15_000;
    while (Date.now() < deadline && !daemon.hasExited()) {
      const answered = await fetch(`http://127.0.0.1:${port}/v2/`).then(
        async (res) => {
          await res.body?.cancel();
          return true;
        },
        () => false,
      );
      if (answered) return { host: `127.0.0.1:${port}`, daemon, stop: () => daemon.stop() };
      await sleep(50);
    }
    await daemon.stop();
    const log = await readFile(logPath, 'utf8').catch(() => '');
    if (!log.includes('address already in use')) {
      throw new Error(`docker-registry did not start: ${log.split('\n').slice(-5).join(' | ')}`);
    }
  }
  throw new Error('docker-registry did not start: port collisions 5 times');
}

/** Writes a registries.conf (containers-registries.conf(5), v2) marking `host` insecure. */
export async function writeRegistriesConf(path: string, host: string): Promise<void> {
  await writeFile(path, ['unqualified-search-registries = []', '', '[[registry]]', `location = "${host}"`, 'insecure = true', ''].join('\n'));
}

/** Pushes `oci:layoutDir:tag` to `docker://ref` with skopeo (plain HTTP). */
export async function pushLayout(
  layoutDir: string,
  tag: string,
  ref: string,
  options: { readonly env: NodeJS.ProcessEnv; readonly signal: AbortSignal },
): Promise<void> {
  const args = ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layoutDir}:${tag}`, `docker://${ref}`];
  await check({ file: 'skopeo', args, env: options.env }, { signal: options.signal });
}

/** The image to serve: `oci:layoutDir:tag`, pushed as `REGISTRY/path:latest`. */
export interface ServedLayout {
  readonly layoutDir: string;
  readonly tag: string;
  /** The repository path in the registry: `bench/big`, `library/busybox`. */
  readonly path: string;
}

/** What the runners need of a served image. */
export interface ServedImage {
  /** `127.0.0.1:PORT` of the registry. */
  readonly registryHost: string;
  /** `127.0.0.1:PORT/PATH:latest`. */
  readonly ref: string;
  /** This process's environment plus a private `CONTAINERS_REGISTRIES_CONF` marking the registry insecure. */
  readonly containersEnv: NodeJS.ProcessEnv;
}

/**
 * Starts a registry under `work/registry` (stopped by `teardown`), writes `work/registries.conf`
 * and pushes the layout's image to it.
 */
export async function serveImage(
  layout: ServedLayout,
  work: string,
  options: { readonly teardown: Teardown; readonly signal: AbortSignal },
): Promise<ServedImage> {
  const registry = await startRegistry(join(work, 'registry'));
  options.teardown.add('stop docker-registry', () => registry.stop());
  const registriesConf = join(work, 'registries.conf');
  await writeRegistriesConf(registriesConf, registry.host);
  const containersEnv = { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf };
  const ref = `${registry.host}/${layout.path}:latest`;
  log(`pushing the image to ${ref}`);
  options.signal.throwIfAborted();
  await pushLayout(layout.layoutDir, layout.tag, ref, { env: containersEnv, signal: options.signal });
  return { registryHost: registry.host, ref, containersEnv };
}
