import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Of } from '../../../common/digests.js';
import { MetadataDb } from '../../../common/metadata.js';
import { StateLayout } from '../../../common/paths.js';
import { ContentStore } from '../../../image/content-store.js';
import { ImageRecords, type NewImage } from '../../../image/image-records.js';
import { ImageService } from '../../../image/image-service.js';
import type { Digest } from '../../../oci/index.js';

let root: string;
let db: MetadataDb;
let records: ImageRecords;
let store: ContentStore;
let service: ImageService;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'berth-images-'));
  const layout = new StateLayout(root, join(root, 'run'));
  db = MetadataDb.open(layout.database());
  records = new ImageRecords(db);
  store = new ContentStore(layout);
  await store.init();
  service = new ImageService(records, store);
});

afterEach(() => {
  db.close();
  rmSync(root, { recursive: true, force: true });
});

/** Stores a fake image with real blobs and layer dirs, as a pull would. */
async function addImage(name: string, layerNames: readonly string[], tag?: string): Promise<NewImage> {
  const layers = [];
  for (const l of layerNames) {
    const diffId = sha256Of(`diff-${l}`);
    const blob = Buffer.from(`blob-${l}`);
    await store.writeBlob(sha256Of(blob), blob);
    if (!(await store.hasLayer(diffId))) await (await store.stageLayer()).commit(diffId);
    layers.push({ diffId, blobDigest: sha256Of(blob), blobSize: blob.length, mediaType: 'application/vnd.oci.image.layer.v1.tar', size: 100 });
  }
  const config = Buffer.from(`config-${name}`);
  const manifest = Buffer.from(`manifest-${name}`);
  await store.writeBlob(sha256Of(config), config);
  await store.writeBlob(sha256Of(manifest), manifest);
  const image: NewImage = {
    id: sha256Of(config), manifestDigest: sha256Of(manifest), manifestType: 'application/vnd.oci.image.manifest.v1+json',
    configSize: config.length, os: 'linux', architecture: 'amd64', variant: undefined, created: '2026-01-01T00:00:00Z',
    pulledAt: new Date().toISOString(), layers, blobs: [sha256Of(manifest), sha256Of(config)],
  };
  records.save(image, { tag, repoDigest: `docker.io/library/${name}@${sha256Of(manifest)}` });
  return image;
}

describe('ImageService', () => {
  it('finds images by name, full ID, ID prefix and repo digest', async () => {
    const image = await addImage('busybox', ['a'], 'docker.io/library/busybox:latest');
    expect(service.find('busybox').id).toBe(image.id);
    expect(service.find('docker.io/library/busybox:latest').id).toBe(image.id);
    expect(service.find(image.id).id).toBe(image.id);
    expect(service.find(image.id.slice(7, 19)).id).toBe(image.id);
    expect(service.find(`busybox@${image.manifestDigest}`).id).toBe(image.id);
    expect(() => service.find('nothere')).toThrowError('No such image: "nothere"');
  });

  it('tag adds a name; rmi of one of two tags only untags', async () => {
    const image = await addImage('busybox', ['a'], 'docker.io/library/busybox:latest');
    service.tag('busybox', 'mybox:1');
    expect(await service.remove('mybox:1', { force: false })).toEqual([{ untagged: 'mybox:1' }]);
    expect(records.byId(image.id)?.tags).toEqual(['docker.io/library/busybox:latest']);
  });

  it('rmi of the last tag deletes the image and content no other image uses', async () => {
    const a = await addImage('a', ['shared', 'only-a'], 'docker.io/library/a:latest');
    const b = await addImage('b', ['shared'], 'docker.io/library/b:latest');
    const events = await service.remove('a', { force: false });
    expect(events.at(-1)).toEqual({ deleted: a.id });
    expect(records.byId(a.id)).toBeUndefined();
    expect(await store.hasLayer(sha256Of('diff-only-a'))).toBe(false);
    expect(await store.hasLayer(sha256Of('diff-shared'))).toBe(true);
    expect(await store.hasBlob(a.id)).toBe(false);
    expect(await store.hasBlob(b.id)).toBe(true);
  });

  it('rmi by ID refuses an image tagged in two repositories unless forced', async () => {
    const image = await addImage('a', ['x'], 'docker.io/library/a:latest');
    service.tag('a', 'other:1');
    await expect(service.remove(image.id, { force: false })).rejects.toThrowError(/referenced in 2 repositories/);
    await service.remove(image.id, { force: true });
    expect(service.list()).toEqual([]);
  });

  it('prune removes dangling images, and with all every image', async () => {
    await addImage('dangling', ['d']);
    await addImage('kept', ['k'], 'docker.io/library/kept:latest');
    const result = await service.prune({ all: false });
    expect(result.images).toHaveLength(1);
    expect(service.list().map((i) => i.tags)).toEqual([['docker.io/library/kept:latest']]);
    await service.prune({ all: true });
    expect(service.list()).toEqual([]);
    expect(await store.listLayers()).toEqual([]);
    expect(await store.listBlobs()).toEqual([]);
  });

  it('garbage collection keeps content leased by a live process', async () => {
    const diffId: Digest = sha256Of('diff-leased');
    await (await store.stageLayer()).commit(diffId);
    records.lease([diffId]);
    await service.prune({ all: true });
    expect(await store.hasLayer(diffId)).toBe(true);
    records.releaseLeases();
    await service.prune({ all: true });
    expect(await store.hasLayer(diffId)).toBe(false);
  });
});
