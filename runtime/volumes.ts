/**
 * Volumes, as docker's local driver keeps them: a directory per volume in the store,
 * records in the metadata database, in use while a container's config names them.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { AlreadyExistsError, FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';
import type { MetadataDb } from '../common/metadata.js';
import type { StateLayout } from '../common/paths.js';

export interface VolumeRecord {
  readonly name: string;
  readonly created: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly anonymous: boolean;
  /** The directory containers mount. */
  readonly mountpoint: string;
}

/** docker's rule for volume names (volume/local/local.go). */
export function isValidVolumeName(name: string): boolean {
  return /^[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name);
}

export class VolumeStore {
  readonly #db: MetadataDb;
  readonly #layout: StateLayout;

  constructor(db: MetadataDb, layout: StateLayout) {
    this.#db = db;
    this.#layout = layout;
  }

  #load(row: Record<string, unknown>): VolumeRecord {
    const name = String(row['name']);
    return {
      name, created: String(row['created']), labels: JSON.parse(String(row['labels'] ?? '{}')) as Record<string, string>,
      anonymous: row['anonymous'] === 1, mountpoint: join(this.#layout.volumeDir(name), '_data'),
    };
  }

  list(): VolumeRecord[] {
    return this.#db.all('SELECT * FROM volumes ORDER BY name').map((r) => this.#load(r));
  }

  get(name: string): VolumeRecord | undefined {
    const row = this.#db.get('SELECT * FROM volumes WHERE name = ?', name);
    return row === undefined ? undefined : this.#load(row);
  }

  find(name: string): VolumeRecord {
    const v = this.get(name);
    if (v === undefined) throw new NotFoundError(`No such volume: ${name}`);
    return v;
  }

  /**
   * Creates a volume (a random 64-hex name when none is given: an anonymous volume).
   * Creating one that exists returns it, as docker does, unless `exclusive`.
   */
  async create(options: { name?: string | undefined; labels?: Readonly<Record<string, string>>; anonymous?: boolean; exclusive?: boolean } = {}): Promise<VolumeRecord> {
    const name = options.name ?? randomBytes(32).toString('hex');
    if (!isValidVolumeName(name)) {
      throw new InvalidArgumentError(`Invalid volume name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed, at least 2 characters`);
    }
    const existing = this.get(name);
    if (existing !== undefined) {
      if (options.exclusive === true) throw new AlreadyExistsError(`A volume named ${name} already exists`);
      return existing;
    }
    const dir = this.#layout.volumeDir(name);
    await mkdir(this.#layout.volumesDir(), { recursive: true, mode: 0o700 });
    await mkdir(join(dir, '_data'), { recursive: true, mode: 0o755 });
    try {
      this.#db.run('INSERT INTO volumes (name, created, labels, anonymous) VALUES (?, ?, ?, ?)',
        name, new Date().toISOString(), JSON.stringify(options.labels ?? {}), options.anonymous === true ? 1 : 0);
    } catch (err) {
      // Another process created it meanwhile: that one wins.
      const now = this.get(name);
      if (now !== undefined) return now;
      await rm(dir, { recursive: true, force: true });
      throw err;
    }
    return this.find(name);
  }

  /** Removes a volume; refuses one that containers use unless `force` (docker: still refuses in use). */
  async remove(name: string, usedBy: readonly string[]): Promise<void> {
    this.find(name);
    if (usedBy.length > 0) {
      throw new FailedPreconditionError(`Volume ${name} is in use by container ${usedBy.join(', ')}`, { hint: 'Remove the container first' });
    }
    this.#db.run('DELETE FROM volumes WHERE name = ?', name);
    await rm(this.#layout.volumeDir(name), { recursive: true, force: true });
  }

  /**
   * docker volume prune: removes the volumes no container uses (`users`: the containers
   * of each volume, ContainerEngine.volumeUsers), anonymous ones only unless `all`.
   * Resolves with the names removed.
   */
  async prune(users: ReadonlyMap<string, readonly string[]>, options: { readonly all?: boolean | undefined } = {}): Promise<string[]> {
    const removed: string[] = [];
    for (const v of this.list()) {
      if ((users.get(v.name) ?? []).length > 0 || (!v.anonymous && options.all !== true)) continue;
      await this.remove(v.name, []);
      removed.push(v.name);
    }
    return removed;
  }
}
