/**
 * The services of one store, wired once for every front end (the CLI per invocation, the
 * API server per process): the store layout from the root (or `BERTH_ROOT`), the
 * configuration, the metadata database, the image services, the registry client, the
 * network manager and the container engine, each created on first use (so `berth --help`
 * touches nothing) and closed by {@link Services.close}.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type BerthConfig } from '../common/config.js';
import { NotFoundError } from '../common/errors.js';
import { MetadataDb } from '../common/metadata.js';
import { defaultRoot, defaultRunRoot, StateLayout } from '../common/paths.js';
import {
  ContentStore, ImageRecords, ImageService, loadPulling, type CredentialStore, type ImageRecord, type ImageReference, type LayerUnpacker,
  type PullOptions, type PullResult, type RegistryClient,
} from '../image/index.js';
import { dnsAddresses, ensureDnsDaemon, findNetProgram, NetworkManager, tableName } from '../network/index.js';
import { SchemaValidator, type ImageConfig } from '../oci/index.js';
import { hostCgroups } from './cgroups.js';
import { ContainerRecords } from './containers.js';
import { ContainerEngine, type PullPolicy } from './engine.js';

/** What {@link Services} is built from. */
export interface ServicesOptions {
  /** Store root; else `BERTH_ROOT`, else /var/lib/berth. Runtime state: `BERTH_RUN_ROOT`, else /run/berth. */
  readonly root?: string | undefined;
  /** The environment: BERTH_*, credentials files (XDG_CONFIG_HOME, DOCKER_CONFIG), NODE_EXTRA_CA_CERTS. */
  readonly env?: NodeJS.ProcessEnv | undefined;
  /**
   * argv that runs berth itself (node and berth's script), for the commands berth leaves
   * behind: the monitor's exit command and the DNS responder of user networks.
   */
  readonly berthProgram: readonly string[];
  /** Where warnings go (a NODE_EXTRA_CA_CERTS file that cannot be read); the CLI prints "Warning: …". */
  readonly onWarning?: ((message: string) => void) | undefined;
}

/** Pulls into the store, with its registries, download concurrency and unpack limits. */
export interface StorePuller {
  pull(ref: ImageReference, options?: Omit<PullOptions, 'limits'>): Promise<PullResult>;
}

/**
 * The certificates of NODE_EXTRA_CA_CERTS, which berth's launcher keeps from Node's own
 * start-up (bin/launcher.c). A file that cannot be read is skipped with Node's warning.
 */
async function extraCaCertificates(env: NodeJS.ProcessEnv, onWarning: ((message: string) => void) | undefined): Promise<string | undefined> {
  const file = env['NODE_EXTRA_CA_CERTS'];
  if (file === undefined || file === '') return undefined;
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    onWarning?.(`Ignoring extra certs from \`${file}\`, load failed: ${err instanceof Error ? err.message : String(err)}`);
    return undefined;
  }
}

/** How {@link resolveImage} finds an image. */
export interface ResolveImageOptions {
  readonly policy: PullPolicy;
  /** Pulls the image named, resolving with its id; without it nothing is pulled. */
  readonly pull?: ((name: string) => Promise<string>) | undefined;
}

/**
 * The image `name` for create, by docker's pull policy: `always` pulls first, `missing`
 * pulls an image that is not here, `never` does not pull; an image that is not here and
 * not pulled is docker's "No such image".
 */
export async function resolveImage(images: Pick<ImageService, 'find'>, name: string, options: ResolveImageOptions): Promise<ImageRecord> {
  const { policy, pull } = options;
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
}

/** Lazily built services of one store. Call {@link close} when done. */
export class Services {
  readonly layout: StateLayout;
  readonly #env: NodeJS.ProcessEnv;
  readonly #berthProgram: readonly string[];
  readonly #onWarning: ((message: string) => void) | undefined;
  #db: MetadataDb | undefined;
  #config: BerthConfig | undefined;
  #validator: SchemaValidator | undefined;
  #network: NetworkManager | undefined;

  constructor(options: ServicesOptions) {
    const env = options.env ?? process.env;
    const root = options.root ?? env['BERTH_ROOT'] ?? defaultRoot;
    this.layout = new StateLayout(root, env['BERTH_RUN_ROOT'] ?? defaultRunRoot);
    this.#env = env;
    this.#berthProgram = options.berthProgram;
    this.#onWarning = options.onWarning;
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
    this.#network = new NetworkManager({
      db: this.db(), layout: this.layout, config,
      program: () => (program ??= findNetProgram()),
      table: tableName(this.layout.root, defaultRoot, (s) => createHash('sha256').update(s).digest('hex')),
      ensureDns: () => ensureDnsDaemon(this.layout, [...this.#berthProgram, '--root', this.layout.root, 'system', 'dns-serve'], dnsAddresses(this.db())),
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
  async credentials(env: NodeJS.ProcessEnv = this.#env): Promise<CredentialStore> {
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
    const extraCa = await extraCaCertificates(this.#env, this.#onWarning);
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
   * The image puller of this store: `registry` (else a new client from {@link registry}),
   * the configured download concurrency and unpack limits, and privileged unpacking as root.
   */
  async puller(registry?: RegistryClient): Promise<StorePuller> {
    const { ImagePuller } = await loadPulling();
    const client = registry ?? await this.registry();
    const config = await this.config();
    const puller = new ImagePuller({
      registry: client, store: this.store(), records: this.records(), validator: await this.validator(),
      concurrency: config.maxConcurrentDownloads, privileged: process.getuid?.() === 0, unpacker: await this.unpacker(),
    });
    return { pull: (ref, options = {}) => puller.pull(ref, { ...options, limits: config.limits }) };
  }

  /**
   * The container engine. `pull` fetches a missing image for run/create (the CLI shows
   * progress); without it a missing image is an error.
   */
  engine(pull?: (name: string) => Promise<string>): ContainerEngine {
    const images = this.images();
    const store = this.store();
    return new ContainerEngine({
      layout: this.layout, db: this.db(), cgroups: hostCgroups(async () => (await this.config()).cgroupParent),
      resolveImage: (name, policy) => resolveImage(images, name, { policy, pull }),
      readImageConfig: async (image) => JSON.parse((await store.readBlob(image.id)).toString('utf8')) as ImageConfig,
      berthCommand: [...this.#berthProgram, '--root', this.layout.root],
      network: () => this.network(),
    });
  }

  /** Releases what was opened. */
  close(): void {
    this.#db?.close();
    this.#db = undefined;
  }
}
