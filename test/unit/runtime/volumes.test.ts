import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDb } from '../../../common/metadata.js';
import { StateLayout } from '../../../common/paths.js';
import { inspectVolume, VolumeStore } from '../../../runtime/index.js';

let root: string;
let db: MetadataDb;
let store: VolumeStore;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'berth-volumes-'));
  const layout = new StateLayout(join(root, 'lib'), join(root, 'run'));
  db = MetadataDb.open(layout.database());
  store = new VolumeStore(db, layout);
});
afterEach(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

describe('volume prune', () => {
  it('removes the anonymous volumes no container uses, and with all the named ones too', async () => {
    const anon = await store.create({ anonymous: true });
    const used = await store.create({ anonymous: true });
    await store.create({ name: 'data' });
    const users = new Map([[used.name, ['web']]]);
    expect(await store.prune(users)).toEqual([anon.name]);
    expect(existsSync(anon.mountpoint)).toBe(false);
    expect(await store.prune(users, { all: true })).toEqual(['data']);
    expect(store.list().map((v) => v.name)).toEqual([used.name]);
  });
});

describe('volume inspect', () => {
  it('is docker\'s document of the local driver', async () => {
    const v = await store.create({ name: 'data', labels: { a: 'b' } });
    expect(inspectVolume(v)).toEqual({ CreatedAt: v.created, Driver: 'local', Labels: { a: 'b' }, Mountpoint: join(root, 'lib', 'volumes', 'data', '_data'), Name: 'data', Options: null, Scope: 'local' });
  });
});
