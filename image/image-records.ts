/**
 * Image metadata in the store's database: images (keyed by image ID, the config digest, as
 * docker keys them), their layers, tags and repo digests, and the leases that keep content
 * a running pull works on away from garbage collection.
 */
import { InvalidContentError } from '../common/errors.js';
import type { MetadataDb } from '../common/metadata.js';
import { isDigest, type Digest } from '../oci/index.js';

/** One layer of an image, bottom first. */
export interface ImageLayerRecord {
  readonly diffId: Digest;
  readonly blobDigest: Digest;
  readonly blobSize: number;
  readonly mediaType: string;
  /** Bytes of the unpacked layer's regular files. */
  readonly size: number;
}

/** An image as the store knows it. */
export interface ImageRecord {
  readonly id: Digest;
  readonly manifestDigest: Digest;
  readonly manifestType: string;
  readonly configSize: number;
  readonly os: string;
  readonly architecture: string;
  readonly variant: string | undefined;
  readonly created: string | undefined;
  readonly pulledAt: string;
  readonly layers: readonly ImageLayerRecord[];
  /** Full tag names, e.g. `docker.io/library/busybox:latest`. */
  readonly tags: readonly string[];
  /** Full repo digests, e.g. `docker.io/library/busybox@sha256:…`. */
  readonly repoDigests: readonly string[];
  /** Sum of the layers' sizes. */
  readonly size: number;
}

/** What a pull records. */
export interface NewImage extends Omit<ImageRecord, 'tags' | 'repoDigests' | 'size' | 'layers'> {
  readonly layers: readonly ImageLayerRecord[];
  /** Other blobs the image needs: manifest, config and the index it came from. */
  readonly blobs: readonly Digest[];
}

function str(row: Record<string, unknown>, key: string): string {
  const v = row[key];
  if (typeof v !== 'string') throw new InvalidContentError(`The metadata database is corrupt: column "${key}" is not text`);
  return v;
}

function num(row: Record<string, unknown>, key: string): number {
  const v = row[key];
  if (typeof v !== 'number') throw new InvalidContentError(`The metadata database is corrupt: column "${key}" is not a number`);
  return v;
}

function digest(row: Record<string, unknown>, key: string): Digest {
  const v = str(row, key);
  if (!isDigest(v)) throw new InvalidContentError(`The metadata database is corrupt: column "${key}" is not a digest`);
  return v;
}

function optional(row: Record<string, unknown>, key: string): string | undefined {
  const v = row[key];
  return typeof v === 'string' ? v : undefined;
}

/** Queries and updates of image metadata. */
export class ImageRecords {
  readonly #db: MetadataDb;

  constructor(db: MetadataDb) {
    this.#db = db;
  }

  /** Records a pulled image, its layers, and optionally a tag and a repo digest, atomically. */
  save(image: NewImage, names: { tag?: string | undefined; repoDigest?: string | undefined }): void {
    this.#db.transaction(() => {
      const now = new Date().toISOString();
      for (const layer of image.layers) {
        this.#db.run('INSERT OR IGNORE INTO layers (diff_id, size, created_at) VALUES (?, ?, ?)', layer.diffId, layer.size, now);
      }
      this.#db.run(
        `INSERT INTO images (id, manifest_digest, manifest_type, config_size, os, architecture, variant, created, pulled_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT(id) DO UPDATE SET manifest_digest = excluded.manifest_digest, manifest_type = excluded.manifest_type,
           pulled_at = excluded.pulled_at`,
        image.id, image.manifestDigest, image.manifestType, image.configSize, image.os, image.architecture,
        image.variant ?? null, image.created ?? null, image.pulledAt,
      );
      this.#db.run('DELETE FROM image_layers WHERE image_id = ?', image.id);
      image.layers.forEach((layer, position) => {
        this.#db.run(
          'INSERT INTO image_layers (image_id, position, diff_id, blob_digest, blob_size, media_type) VALUES (?, ?, ?, ?, ?, ?)',
          image.id, position, layer.diffId, layer.blobDigest, layer.blobSize, layer.mediaType,
        );
      });
      for (const blob of image.blobs) this.#db.run('INSERT OR IGNORE INTO image_blobs (image_id, digest) VALUES (?, ?)', image.id, blob);
      if (names.tag !== undefined) this.#db.run('INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)', names.tag, image.id);
      if (names.repoDigest !== undefined) {
        this.#db.run('INSERT OR REPLACE INTO repo_digests (name, image_id) VALUES (?, ?)', names.repoDigest, image.id);
      }
    });
  }

  /** Every image, newest pull first. */
  list(): ImageRecord[] {
    return this.#db.all('SELECT * FROM images ORDER BY pulled_at DESC').map((row) => this.#load(row));
  }

  /** The image with exactly this ID. */
  byId(id: Digest): ImageRecord | undefined {
    const row = this.#db.get('SELECT * FROM images WHERE id = ?', id);
    return row === undefined ? undefined : this.#load(row);
  }

  /** The image a full tag name (`docker.io/library/busybox:latest`) points to. */
  byTag(name: string): ImageRecord | undefined {
    const row = this.#db.get('SELECT i.* FROM images i JOIN tags t ON t.image_id = i.id WHERE t.name = ?', name);
    return row === undefined ? undefined : this.#load(row);
  }

  /** The image a full repo digest (`docker.io/library/busybox@sha256:…`) points to. */
  byRepoDigest(name: string): ImageRecord | undefined {
    const row = this.#db.get('SELECT i.* FROM images i JOIN repo_digests r ON r.image_id = i.id WHERE r.name = ?', name);
    return row === undefined ? undefined : this.#load(row);
  }

  /** Images whose ID hex starts with `prefix` (lower-case hex, no algorithm). */
  byIdPrefix(prefix: string): ImageRecord[] {
    return this.#db.all("SELECT * FROM images WHERE substr(id, 8) LIKE ? || '%'", prefix).map((row) => this.#load(row));
  }

  /** Points a tag at an image (replacing what it pointed to). */
  tag(name: string, imageId: Digest): void {
    this.#db.run('INSERT OR REPLACE INTO tags (name, image_id) VALUES (?, ?)', name, imageId);
  }

  /** Removes a tag; true when it existed. */
  untag(name: string): boolean {
    return this.#db.run('DELETE FROM tags WHERE name = ?', name) > 0;
  }

  /** Removes a repo digest; true when it existed. */
  removeRepoDigest(name: string): boolean {
    return this.#db.run('DELETE FROM repo_digests WHERE name = ?', name) > 0;
  }

  /** Removes an image and its names. */
  delete(id: Digest): void {
    this.#db.transaction(() => {
      this.#db.run('DELETE FROM images WHERE id = ?', id);
    });
  }

  /** Layer diffIDs used by any image. */
  referencedLayers(): Set<string> {
    return new Set(this.#db.all('SELECT DISTINCT diff_id FROM image_layers').map((r) => str(r, 'diff_id')));
  }

  /** Blob digests used by any image (layers, manifests, configs, indexes). */
  referencedBlobs(): Set<string> {
    const rows = this.#db.all('SELECT blob_digest AS d FROM image_layers UNION SELECT digest AS d FROM image_blobs');
    return new Set(rows.map((r) => str(r, 'd')));
  }

  /** Drops the records of layers no image uses; returns their diffIDs. */
  forgetUnusedLayers(): string[] {
    return this.#db.transaction(() => {
      const rows = this.#db.all('SELECT diff_id FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)');
      this.#db.run('DELETE FROM layers WHERE diff_id NOT IN (SELECT diff_id FROM image_layers)');
      return rows.map((r) => str(r, 'diff_id'));
    });
  }

  /** Runs `fn` holding the metadata write lock (see MetadataDb.withWriteLock). */
  async withWriteLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.#db.withWriteLock(fn);
  }

  /** The recorded unpacked size of a layer, if known. */
  layerSize(diffId: Digest): number | undefined {
    const row = this.#db.get('SELECT size FROM layers WHERE diff_id = ?', diffId);
    return row === undefined ? undefined : num(row, 'size');
  }

  /** Marks content this process works on, so garbage collection keeps it. */
  lease(digests: readonly Digest[]): void {
    this.#db.transaction(() => {
      for (const d of digests) this.#db.run('INSERT OR IGNORE INTO leases (pid, digest) VALUES (?, ?)', process.pid, d);
    });
  }

  /** Releases this process's leases. */
  releaseLeases(): void {
    this.#db.run('DELETE FROM leases WHERE pid = ?', process.pid);
  }

  /** Digests leased by live processes; stale leases of dead ones are removed. */
  liveLeases(isAlive: (pid: number) => boolean): Set<string> {
    const live = new Set<string>();
    for (const row of this.#db.all('SELECT pid, digest FROM leases')) {
      const pid = num(row, 'pid');
      if (isAlive(pid)) live.add(str(row, 'digest'));
      else this.#db.run('DELETE FROM leases WHERE pid = ?', pid);
    }
    return live;
  }

  #load(row: Record<string, unknown>): ImageRecord {
    const id = digest(row, 'id');
    const layers = this.#db
      .all(
        `SELECT il.diff_id, il.blob_digest, il.blob_size, il.media_type, l.size FROM image_layers il
         JOIN layers l ON l.diff_id = il.diff_id WHERE il.image_id = ? ORDER BY il.position`,
        id,
      )
      .map((r): ImageLayerRecord => ({
        diffId: digest(r, 'diff_id'), blobDigest: digest(r, 'blob_digest'), blobSize: num(r, 'blob_size'),
        mediaType: str(r, 'media_type'), size: num(r, 'size'),
      }));
    const names = (table: string): string[] => this.#db.all(`SELECT name FROM ${table} WHERE image_id = ? ORDER BY name`, id).map((r) => str(r, 'name'));
    return {
      id, manifestDigest: digest(row, 'manifest_digest'), manifestType: str(row, 'manifest_type'),
      configSize: num(row, 'config_size'), os: str(row, 'os'), architecture: str(row, 'architecture'),
      variant: optional(row, 'variant'), created: optional(row, 'created'), pulledAt: str(row, 'pulled_at'),
      layers, tags: names('tags'), repoDigests: names('repo_digests'),
      size: layers.reduce((sum, l) => sum + l.size, 0),
    };
  }
}
