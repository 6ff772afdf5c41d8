/**
 * Container records in the metadata database, and the container's live status worked out
 * from them and from the machine: the monitor's exit.json says a container has exited, a
 * live process (same pid and start time as recorded, so a reused pid is not mistaken for
 * it) that it runs.
 */
import { AlreadyExistsError, InvalidContentError, NotFoundError, UsageError } from '../common/errors.js';
import type { MetadataDb } from '../common/metadata.js';
import type { ContainerConfig } from './config.js';

/** What berth records about a container. */
export interface ContainerRecord {
  readonly id: string;
  readonly name: string;
  readonly imageId: string;
  /** The image as the user named it. */
  readonly imageName: string;
  readonly created: string;
  readonly config: ContainerConfig;
  /** Recorded state: created (the monitor waits for start), running, paused (its cgroup frozen), exited, or removing. */
  readonly state: RecordedState;
  readonly pid: number;
  /** Field 22 of /proc/<pid>/stat when recorded. */
  readonly pidStart: string;
  readonly monitorPid: number;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly exitCode: number;
  readonly restartCount: number;
}

export type RecordedState = 'creating' | 'created' | 'running' | 'paused' | 'exited' | 'removing';

function text(row: Record<string, unknown>, key: string): string {
  const v = row[key];
  if (typeof v !== 'string') throw new InvalidContentError(`The metadata database is corrupt: containers.${key} is not text`);
  return v;
}

function int(row: Record<string, unknown>, key: string): number {
  const v = row[key];
  if (typeof v !== 'number') throw new InvalidContentError(`The metadata database is corrupt: containers.${key} is not a number`);
  return v;
}

const states: readonly RecordedState[] = ['creating', 'created', 'running', 'paused', 'exited', 'removing'];

function load(row: Record<string, unknown>): ContainerRecord {
  const state = text(row, 'state');
  if (!states.includes(state as RecordedState)) throw new InvalidContentError(`The metadata database is corrupt: unknown container state "${state}"`);
  return {
    id: text(row, 'id'),
    name: text(row, 'name'),
    imageId: text(row, 'image_id'),
    imageName: text(row, 'image_name'),
    created: text(row, 'created'),
    config: JSON.parse(text(row, 'config')) as ContainerConfig,
    state: state as RecordedState,
    pid: int(row, 'pid'),
    pidStart: text(row, 'pid_start'),
    monitorPid: int(row, 'monitor_pid'),
    startedAt: text(row, 'started_at'),
    finishedAt: text(row, 'finished_at'),
    exitCode: int(row, 'exit_code'),
    restartCount: int(row, 'restart_count'),
  };
}

/** Queries and updates of container records. */
export class ContainerRecords {
  readonly #db: MetadataDb;

  constructor(db: MetadataDb) {
    this.#db = db;
  }

  /** Records a new container in state "creating"; refuses a name in use, as docker does. */
  insert(c: { id: string; name: string; imageId: string; imageName: string; created: string; config: ContainerConfig }): void {
    this.#db.transaction(() => {
      const holder = this.#db.get('SELECT id FROM containers WHERE name = ?', c.name);
      if (holder !== undefined) {
        const other = text(holder, 'id');
        throw new AlreadyExistsError(`Conflict. The container name "/${c.name}" is already in use by container "${other}"`, {
          hint: 'Remove (or rename) that container to be able to reuse that name',
        });
      }
      this.#db.run(
        'INSERT INTO containers (id, name, image_id, image_name, created, config, state) VALUES (?, ?, ?, ?, ?, ?, ?)',
        c.id, c.name, c.imageId, c.imageName, c.created, JSON.stringify(c.config), 'creating',
      );
    });
  }

  list(): ContainerRecord[] {
    return this.#db.all('SELECT * FROM containers ORDER BY created DESC, rowid DESC').map(load);
  }

  byId(id: string): ContainerRecord | undefined {
    const row = this.#db.get('SELECT * FROM containers WHERE id = ?', id);
    return row === undefined ? undefined : load(row);
  }

  /**
   * Finds a container as docker does: by full id, by name (with or without the leading
   * "/"), then by unique id prefix.
   */
  find(input: string): ContainerRecord {
    if (input === '') throw new UsageError('A container name or id is required');
    const exact = this.#db.get('SELECT * FROM containers WHERE id = ? OR name = ?', input, input.replace(/^\//, ''));
    if (exact !== undefined) return load(exact);
    if (/^[0-9a-f]+$/.test(input)) {
      const rows = this.#db.all("SELECT * FROM containers WHERE id LIKE ? || '%'", input);
      if (rows.length === 1 && rows[0] !== undefined) return load(rows[0]);
      if (rows.length > 1) throw new UsageError(`Multiple containers match the id prefix "${input}"`, { hint: 'Give more characters of the id' });
    }
    throw new NotFoundError(`No such container: ${input}`, { hint: '"berth ps -a" lists the containers' });
  }

  update(id: string, fields: Partial<Pick<ContainerRecord, 'state' | 'pid' | 'pidStart' | 'monitorPid' | 'startedAt' | 'finishedAt' | 'exitCode' | 'restartCount'>>): void {
    const columns: Record<string, string> = {
      state: 'state', pid: 'pid', pidStart: 'pid_start', monitorPid: 'monitor_pid', startedAt: 'started_at',
      finishedAt: 'finished_at', exitCode: 'exit_code', restartCount: 'restart_count',
    };
    const keys = Object.keys(fields).filter((k) => (fields as Record<string, unknown>)[k] !== undefined);
    if (keys.length === 0) return;
    const sets = keys.map((k) => `${columns[k] ?? 'invalid'} = ?`).join(', ');
    const values = keys.map((k) => (fields as Record<string, string | number>)[k] ?? null);
    this.#db.run(`UPDATE containers SET ${sets} WHERE id = ?`, ...values, id);
  }

  /** Replaces the recorded config (create fills in the names of the volumes it made). */
  updateConfig(id: string, config: ContainerConfig): void {
    this.#db.run('UPDATE containers SET config = ? WHERE id = ?', JSON.stringify(config), id);
  }

  rename(id: string, name: string): void {
    this.#db.transaction(() => {
      const holder = this.#db.get('SELECT id FROM containers WHERE name = ? AND id <> ?', name, id);
      if (holder !== undefined) {
        throw new AlreadyExistsError(`Conflict. The container name "/${name}" is already in use by container "${text(holder, 'id')}"`, {
          hint: 'Remove (or rename) that container to be able to reuse that name',
        });
      }
      this.#db.run('UPDATE containers SET name = ? WHERE id = ?', name, id);
    });
  }

  delete(id: string): void {
    this.#db.run('DELETE FROM containers WHERE id = ?', id);
  }

  /** Image ids that containers use (their layers must stay), each with one container's id. */
  imagesInUse(): Map<string, string> {
    return new Map(this.#db.all('SELECT image_id, MIN(id) AS id FROM containers GROUP BY image_id').map((r) => [text(r, 'image_id'), text(r, 'id')]));
  }
}

export { processStartTime, sameProcess } from '../common/process.js';
