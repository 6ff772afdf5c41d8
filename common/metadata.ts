/**
 * The metadata database: one SQLite file per store (WAL, busy timeout) so that concurrent
 * berth processes see one truth and a crash at any point leaves it consistent (SQLite's
 * own atomic commit). This module owns the schema; modules keep their queries next to
 * their logic and use {@link MetadataDb.transaction} for anything that writes more than one
 * row.
 */
import Database from 'better-sqlite3';
import { accessSync, chmodSync, closeSync, constants, existsSync, openSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { directoryError, makeDirectorySync } from './fs.js';
import { dirname } from 'node:path';

type Database = Database.Database;

/**
 * The SQLite addon beside the bundled CLI (dist/native, copied by scripts/bundle.mjs):
 * loaded by path, it spares every command the `bindings` package's search for it. Running
 * from source there is none, and better-sqlite3 finds its own.
 */
function nativeBinding(): string | undefined {
  const path = fileURLToPath(new URL('./native/better_sqlite3.node', import.meta.url));
  return existsSync(path) ? path : undefined;
}

/** Schema migrations, applied in order; the index + 1 is the schema version (PRAGMA user_version). */
const migrations: readonly string[] = [
  `
  -- Unpacked layers, one per diffID. A row exists only once the layer directory is complete.
  CREATE TABLE layers (
    diff_id    TEXT PRIMARY KEY,
    size       INTEGER NOT NULL,   -- bytes of regular files
    created_at TEXT NOT NULL
  );
  -- Images, keyed by the image ID (the config digest), as docker keys them.
  CREATE TABLE images (
    id              TEXT PRIMARY KEY,
    manifest_digest TEXT NOT NULL,
    manifest_type   TEXT NOT NULL,
    config_size     INTEGER NOT NULL,
    os              TEXT NOT NULL,
    architecture    TEXT NOT NULL,
    variant         TEXT,
    created         TEXT,           -- the config's "created"
    pulled_at       TEXT NOT NULL
  );
  -- The layers of an image, bottom first.
  CREATE TABLE image_layers (
    image_id    TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    diff_id     TEXT NOT NULL REFERENCES layers(diff_id),
    blob_digest TEXT NOT NULL,
    blob_size   INTEGER NOT NULL,
    media_type  TEXT NOT NULL,
    PRIMARY KEY (image_id, position)
  );
  CREATE INDEX image_layers_diff ON image_layers(diff_id);
  -- Tags: "docker.io/library/busybox:latest" → image.
  CREATE TABLE tags (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
  );
  -- Repo digests: "docker.io/library/busybox@sha256:…" → image; the digest is the one the
  -- image was pulled by (an index's digest for multi-platform images).
  CREATE TABLE repo_digests (
    name     TEXT PRIMARY KEY,
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE
  );
  -- Blobs an image needs besides its layers: its manifest and config, and the index it
  -- was selected from. Used by garbage collection.
  CREATE TABLE image_blobs (
    image_id TEXT NOT NULL REFERENCES images(id) ON DELETE CASCADE,
    digest   TEXT NOT NULL,
    PRIMARY KEY (image_id, digest)
  );
  -- Content a running command is working on (a pull between download and commit), so that
  -- garbage collection leaves it alone. Rows of dead pids are stale and ignored/removed.
  CREATE TABLE leases (
    pid    INTEGER NOT NULL,
    digest TEXT NOT NULL,
    PRIMARY KEY (pid, digest)
  );
  `,
  `
  -- Containers. config is berth's JSON of what the container was created with (docker's
  -- Config and HostConfig); state is what berth last recorded: the monitor's exit.json and
  -- the processes' liveness are the truth for created/running/exited (runtime/containers.ts).
  CREATE TABLE containers (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    image_id      TEXT NOT NULL,
    image_name    TEXT NOT NULL,
    created       TEXT NOT NULL,
    config        TEXT NOT NULL,
    state         TEXT NOT NULL,
    pid           INTEGER NOT NULL DEFAULT 0,
    pid_start     TEXT NOT NULL DEFAULT '',
    monitor_pid   INTEGER NOT NULL DEFAULT 0,
    started_at    TEXT NOT NULL DEFAULT '',
    finished_at   TEXT NOT NULL DEFAULT '',
    exit_code     INTEGER NOT NULL DEFAULT 0,
    restart_count INTEGER NOT NULL DEFAULT 0
  );
  CREATE INDEX containers_image ON containers (image_id);
  `,
  `
  -- Named and anonymous volumes (docker's local driver): data in <root>/volumes/<name>/_data.
  -- anonymous volumes come from an image's VOLUME and go with rm -v or --rm.
  CREATE TABLE volumes (
    name      TEXT PRIMARY KEY,
    created   TEXT NOT NULL,
    labels    TEXT NOT NULL DEFAULT '{}',
    anonymous INTEGER NOT NULL DEFAULT 0
  );
  `,
  `
  -- Networks (network/): each a Linux bridge with an IPv4 subnet. The default network
  -- "bridge" is made on first use from the configuration ("bridge", "bip").
  CREATE TABLE networks (
    id       TEXT PRIMARY KEY,
    name     TEXT NOT NULL UNIQUE,
    driver   TEXT NOT NULL,
    bridge   TEXT NOT NULL UNIQUE,     -- the Linux bridge's name
    subnet   TEXT NOT NULL,            -- CIDR, e.g. 10.77.0.0/16
    gateway  TEXT NOT NULL,            -- the bridge's address
    internal INTEGER NOT NULL DEFAULT 0,
    dns      INTEGER NOT NULL DEFAULT 1, -- containers resolve each other by name (user networks)
    mtu      INTEGER NOT NULL DEFAULT 0, -- of its containers' default route; 0: the configured one
    created  TEXT NOT NULL,
    labels   TEXT NOT NULL DEFAULT '{}'
  );
  -- A container's place on a network, from create (or connect) to rm (or disconnect): its
  -- address lease, MAC address and aliases. seq orders a container's networks (the first
  -- gives the default route).
  CREATE TABLE endpoints (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    network_id   TEXT NOT NULL REFERENCES networks(id),
    container_id TEXT NOT NULL,
    ip           TEXT NOT NULL,
    mac          TEXT NOT NULL,
    aliases      TEXT NOT NULL DEFAULT '[]',
    static_ip    INTEGER NOT NULL DEFAULT 0,
    UNIQUE (network_id, container_id),
    UNIQUE (network_id, ip)
  );
  CREATE INDEX endpoints_container ON endpoints (container_id);
  -- Host ports published while a container's network is set up (start to stop), with
  -- the host port chosen for "-p 80": the nftables rules are made from these rows.
  CREATE TABLE published_ports (
    container_id   TEXT NOT NULL,
    protocol       TEXT NOT NULL,
    host_ip        TEXT NOT NULL,
    host_port      INTEGER NOT NULL,
    container_port INTEGER NOT NULL,
    PRIMARY KEY (protocol, host_ip, host_port)
  );
  CREATE INDEX published_ports_container ON published_ports (container_id);
  `,
  `
  -- The berth process at work on a container while it is being created or removed (pid and
  -- /proc/<pid>/stat start time): one whose owner died half way shows as dead, and a second
  -- removal can tell a removal in progress from one that was cut short (runtime/state.ts).
  ALTER TABLE containers ADD COLUMN owner_pid INTEGER NOT NULL DEFAULT 0;
  ALTER TABLE containers ADD COLUMN owner_start TEXT NOT NULL DEFAULT '';
  `,
];

/**
 * The database holds every container's config (its environment, where secrets are
 * passed): only root may read it, whatever the store root's mode (CVE-2021-41091 was about
 * store directories other users could reach). A new one is made 0600, and SQLite gives its
 * -wal and -shm files the database's mode; an older, readable one is made private again.
 */
function keepPrivate(path: string): void {
  const st = statSync(path, { throwIfNoEntry: false });
  if (st === undefined) {
    try {
      closeSync(openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600));
    } catch {
      // Made meanwhile by another berth, or not makeable: the open below says what is wrong.
    }
    return;
  }
  if ((st.mode & 0o077) === 0) return;
  for (const f of [path, `${path}-wal`, `${path}-shm`]) {
    try {
      chmodSync(f, 0o600);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ENOENT') throw err;
    }
  }
}

/** An open metadata database. Close it when the command ends. */
export class MetadataDb {
  readonly #db: Database;

  private constructor(db: Database) {
    this.#db = db;
  }

  /** Opens (creating and migrating if needed) the database at `path`. */
  static open(path: string): MetadataDb {
    makeDirectorySync(dirname(path), 0o700);
    keepPrivate(path);
    let db: Database;
    try {
      db = new Database(path, { timeout: 30_000, nativeBinding: nativeBinding() });
    } catch (err) {
      // better-sqlite3 says only "unable to open database file": ask the filesystem why.
      try {
        accessSync(dirname(path), constants.W_OK);
      } catch (why) {
        throw directoryError(dirname(path), why);
      }
      throw directoryError(path, err);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    const meta = new MetadataDb(db);
    meta.#migrate();
    return meta;
  }

  #migrate(): void {
    // BEGIN IMMEDIATE takes the write lock first, so two processes opening a new store
    // do not both apply the same migration.
    this.#db.transaction(() => {
      const version = this.#db.pragma('user_version', { simple: true });
      const from = typeof version === 'number' ? version : 0;
      for (let i = from; i < migrations.length; i++) this.#db.exec(migrations[i] ?? '');
      if (from < migrations.length) this.#db.pragma(`user_version = ${migrations.length}`);
    }).immediate();
  }

  /** Runs `fn` in one write transaction (BEGIN IMMEDIATE); rolls back if it throws. */
  transaction<T>(fn: () => T): T {
    return this.#db.transaction(fn).immediate();
  }

  /**
   * Runs async `fn` holding the database's write lock (BEGIN IMMEDIATE … COMMIT), so that
   * no other process commits in between: garbage collection uses it to decide and hide
   * what it removes atomically with respect to pulls taking leases. `fn` must not use
   * {@link transaction} (this connection is already in one).
   */
  async withWriteLock<T>(fn: () => Promise<T>): Promise<T> {
    this.#db.exec('BEGIN IMMEDIATE');
    try {
      const result = await fn();
      this.#db.exec('COMMIT');
      return result;
    } catch (err) {
      this.#db.exec('ROLLBACK');
      throw err;
    }
  }

  /** Runs a statement that changes rows; returns the number changed. */
  run(sql: string, ...params: readonly SqlValue[]): number {
    return this.#db.prepare(sql).run(...params).changes;
  }

  /** Returns every row of a query, as `unknown` records for the caller to parse. */
  all(sql: string, ...params: readonly SqlValue[]): Record<string, unknown>[] {
    return this.#db.prepare(sql).all(...params) as Record<string, unknown>[];
  }

  /** Returns the first row of a query, or undefined. */
  get(sql: string, ...params: readonly SqlValue[]): Record<string, unknown> | undefined {
    return this.#db.prepare(sql).get(...params) as Record<string, unknown> | undefined;
  }

  /** Closes the database. */
  close(): void {
    this.#db.close();
  }
}

/** Values that may be bound to a statement. */
export type SqlValue = string | number | bigint | null;
