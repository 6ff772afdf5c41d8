/**
 * Wiring for one CLI invocation: the store layout from `--root`/`BERTH_ROOT`, the
 * configuration, the metadata database and the image services, each created on first use
 * (so `berth --help` touches nothing) and closed when the command ends.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type BerthConfig } from '../common/config.js';
import { MetadataDb } from '../common/metadata.js';
import { defaultRoot, defaultRunRoot, StateLayout } from '../common/paths.js';
import {
  ContentStore, ImageRecords, ImageService, loadPulling, type CredentialStore, type LayerUnpacker, type RegistryClient,
} from '../image/index.js';
import { NotFoundError } from '../common/errors.js';
import { SchemaValidator, type ImageConfig } from '../oci/index.js';
import { ContainerEngine, ContainerRecords, hostCgroups, type PullPolicy } from '../runtime/index.js';
import { dnsAddresses, ensureDnsDaemon, findNetProgram, NetworkManager, tableName } from '../network/index.js';
import { createHash } from 'node:crypto';

/**
 * The certificates of NODE_EXTRA_CA_CERTS, which berth's launcher keeps from Node's own
 * start-up (bin/launcher.c). A file that cannot be read is skipped with Node's warning.
 */
async function extraCaCertificates(env: NodeJS.ProcessEnv): Promise<string | undefined> {
  const file = env['NODE_EXTRA_CA_CERTS'];
  if (file === undefined || file === '') return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    process.stderr.write(`Warning: Ignoring extra certs from \`${file}\`, load failed: ${err instanceof Error ? err.message : String(err)}\n`);
    return undefined;
  }
}

/** Global options every command sees. */
export interface GlobalOptions {
  readonly root?: string | undefined;
  readonly debug?: boolean | undefined;
}

/** Lazily built services of one invocation. Call {@link close} when done. */
export class CommandContext {
  readonly layout: StateLayout;
  readonly debug: boolean;
  #db: MetadataDb | undefined;
  #config: BerthConfig | undefined;
  #validator: SchemaValidator | undefined;
  #network: NetworkManager | undefined;

  constructor(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env) {
    const root = options.root ?? env['BERTH_ROOT'] ?? defaultRoot;
    this.layout = new StateLayout(root, env['BERTH_RUN_ROOT'] ?? defaultRunRoot);
    this.debug = options.debug === true;
  }

  /** berth's configuration (`<root>/config.json`). */
  async config(): Promise<BerthConfig> {
    this.#config ??= await loadConfig(this.layout.configFile());
    return this.#config;
  }

  /** The metadata database, opened on first use. */
  db(): MetadataDb {
    this.#db ??= MetadataDb.open(this.layout.database());
    return this.#db;
  }

  /** The OCI schema validator (loads ajv on first use). */
  async validator(): Promise<SchemaValidator> {
    this.#validator ??= await SchemaValidator.load();
    return this.#validator;
  }

  /** Networks of this store. */
  async network(): Promise<NetworkManager> {
    if (this.#network !== undefined) return this.#network;
    const config = await this.config();
    let program: string | undefined;
    const berth = process.argv[1] ?? 'berth';
    this.#network = new NetworkManager({
      db: this.db(), layout: this.layout, config,
      program: () => (program ??= findNetProgram()),
      table: tableName(this.layout.root, defaultRoot, (s) => createHash('sha256').update(s).digest('hex')),
      ensureDns: () => ensureDnsDaemon(this.layout, [process.execPath, berth, '--root', this.layout.root, 'system', 'dns-serve'], dnsAddresses(this.db())),
    });
    return this.#network;
  }

  /** The content store. */
  store(): ContentStore {
    return new ContentStore(this.layout);
  }

  /** Image metadata queries. */
  records(): ImageRecords {
    return new ImageRecords(this.db());
  }

  /** Local image operations. */
  images(): ImageService {
    // Containers keep their images (and so their layers) from rmi and prune.
    return new ImageService(this.records(), this.store(), () => new ContainerRecords(this.db()).imagesInUse());
  }

  /** Registry credentials: berth's auth file, falling back to docker's config.json. */
  async credentials(env: NodeJS.ProcessEnv = process.env): Promise<CredentialStore> {
    const { CredentialStore } = await loadPulling();
    const configHome = env['XDG_CONFIG_HOME'] ?? join(homedir(), '.config');
    const dockerConfig = env['DOCKER_CONFIG'] ?? join(homedir(), '.docker');
    return new CredentialStore({
      path: env['BERTH_AUTH_FILE'] ?? join(configHome, 'berth', 'auth.json'),
      dockerConfigPath: join(dockerConfig, 'config.json'),
    });
  }

  /** A registry client with the configured insecure registries and credentials. */
  async registry(): Promise<RegistryClient> {
    const config = await this.config();
    const { RegistryClient, dispatcherTrusting } = await loadPulling();
    const extraCa = await extraCaCertificates(process.env);
    return new RegistryClient({
      dispatcher: extraCa === undefined ? undefined : await dispatcherTrusting(extraCa),
      credentials: await this.credentials(),
      insecureRegistries: config.insecureRegistries,
      userAgent: 'berth/0.1',
    });
  }

  /**
   * Where pulls unpack layers: a worker thread per layer when the bundled worker sits next
   * to the bundled CLI (dist/unpack-worker.mjs beside dist/berth.mjs), else this thread.
   */
  async unpacker(): Promise<LayerUnpacker> {
    const { InProcessUnpacker, WorkerUnpacker } = await loadPulling();
    const worker = new URL('./unpack-worker.mjs', import.meta.url);
    return existsSync(worker) ? new WorkerUnpacker(worker) : new InProcessUnpacker();
  }

  /**
   * The container engine. `pull` fetches a missing image for run/create (with progress);
   * without it a missing image is an error.
   */
  engine(pull?: (name: string) => Promise<string>): ContainerEngine {
    const images = this.images();
    const store = this.store();
    const resolveImage = async (name: string, policy: PullPolicy) => {
      const find = () => images.find(name);
      if (policy === 'always' && pull !== undefined) return images.find(await pull(name));
      try {
        return find();
      } catch (err) {
        if (!(err instanceof NotFoundError) || policy === 'never' || pull === undefined) {
          if (err instanceof NotFoundError) {
            throw new NotFoundError(`No such image: ${name}`, { hint: `Pull it with "berth pull ${name}"` });
          }
          throw err;
        }
        return images.find(await pull(name));
      }
    };
    const berth = process.argv[1] ?? 'berth';
    return new ContainerEngine({
      layout: this.layout, db: this.db(), cgroups: hostCgroups(async () => (await this.config()).cgroupParent), resolveImage,
      readImageConfig: async (image) => JSON.parse((await store.readBlob(image.id)).toString('utf8')) as ImageConfig,
      berthCommand: [process.execPath, berth, '--root', this.layout.root],
      network: () => this.network(),
    });
  }

  /** Releases what was opened. */
  close(): void {
    this.#db?.close();
    this.#db = undefined;
  }
}
