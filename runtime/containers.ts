/**
 * Container records in the metadata database, and the container's live status worked out
 * from them and from the machine: the monitor's exit.json says a container has exited, a
 * live process (same pid and start time as recorded, so a reused pid is not mistaken for
 * it) that it runs.
 */
import { AlreadyExistsError, FailedPreconditionError, InvalidContentError, NotFoundError, UsageError } from '../common/errors.js';
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
  /** The berth process creating or removing it (0 when none), and its start time. */
  readonly ownerPid: number;
  readonly ownerStart: string;
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
    ownerPid: int(row, 'owner_pid'),
    ownerStart: text(row, 'owner_start'),
  };
}

/** The columns {@link ContainerRecords.update} and {@link ContainerRecords.compareAndSet} write. */
export type RecordFields = Partial<Pick<ContainerRecord,
  'state' | 'pid' | 'pidStart' | 'monitorPid' | 'startedAt' | 'finishedAt' | 'exitCode' | 'restartCount' | 'ownerPid' | 'ownerStart'>>;

const columns: Readonly<Record<keyof RecordFields, string>> = {
  state: 'state', pid: 'pid', pidStart: 'pid_start', monitorPid: 'monitor_pid', startedAt: 'started_at',
  finishedAt: 'finished_at', exitCode: 'exit_code', restartCount: 'restart_count', ownerPid: 'owner_pid', ownerStart: 'owner_start',
};

/** The SET list and its values for the fields that are given. */
function assignments(fields: RecordFields): [string, (string | number)[]] {
  const keys = (Object.keys(fields) as (keyof RecordFields)[]).filter((k) => fields[k] !== undefined);
  return [keys.map((k) => `${columns[k]} = ?`).join(', '), keys.map((k) => fields[k] as string | number)];
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

  update(id: string, fields: RecordFields): void {
    const [sets, values] = assignments(fields);
    if (sets === '') return;
    this.#db.run(`UPDATE containers SET ${sets} WHERE id = ?`, ...values, id);
  }

  /**
   * Compare-and-set: writes `fields` only if the container's recorded state is still one of
   * `expected` (one UPDATE guarded by the state, checked by its row count), so that of two
   * berth processes (or the CLI and the API server) racing to start, remove or rename the
   * same container exactly one wins. False when the state had changed, or the row is gone.
   */
  compareAndSet(id: string, expected: readonly RecordedState[], fields: RecordFields): boolean {
    const [sets, values] = assignments(fields);
    if (sets === '' || expected.length === 0) return false;
    const marks = expected.map(() => '?').join(', ');
    return this.#db.run(`UPDATE containers SET ${sets} WHERE id = ? AND state IN (${marks})`, ...values, id, ...expected) === 1;
  }

  /** Replaces the recorded config (create fills in the names of the volumes it made). */
  updateConfig(id: string, config: ContainerConfig): void {
    this.#db.run('UPDATE containers SET config = ? WHERE id = ?', JSON.stringify(config), id);
  }

  /**
   * Renames container `id`, refusing a name in use and a container being created or
   * removed (checked in the same transaction as the write).
   */
  rename(id: string, name: string): void {
    this.#db.transaction(() => {
      const holder = this.#db.get('SELECT id FROM containers WHERE name = ? AND id <> ?', name, id);
      if (holder !== undefined) {
        throw new AlreadyExistsError(`Conflict. The container name "/${name}" is already in use by container "${text(holder, 'id')}"`, {
          hint: 'Remove (or rename) that container to be able to reuse that name',
        });
      }
      const changed = this.#db.run("UPDATE containers SET name = ? WHERE id = ? AND state NOT IN ('creating', 'removing')", name, id);
      if (changed !== 1) {
        const row = this.#db.get('SELECT state FROM containers WHERE id = ?', id);
        if (row === undefined) throw new NotFoundError(`No such container: ${id}`);
        throw new FailedPreconditionError(`Cannot rename container ${id}: it is ${text(row, 'state') === 'creating' ? 'being created' : 'being removed'}`);
      }
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
