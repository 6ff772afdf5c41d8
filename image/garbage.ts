/**
 * Garbage collection of the content store: removes blobs and layers that no image refers to
 * and no live pull has leased, and staging leftovers of dead processes.
 *
 * Removal never races a pull: the decision and the hiding (a rename out of sight) happen
 * while holding the metadata write lock, and a pull leases its digests (a write) before it
 * checks what is present. Either the pull's lease comes first and the content is kept, or
 * the content is gone before the pull looks and the pull fetches it again.
 */
import { isProcessAlive } from '../common/process.js';
import type { Digest } from '../oci/index.js';
import type { ContentStore } from './content-store.js';
import type { ImageRecords } from './image-records.js';

/** What a collection removed. */
export interface GarbageResult {
  readonly layers: number;
  readonly blobs: number;
  /** Bytes freed: blob sizes plus recorded unpacked layer sizes. */
  readonly reclaimedBytes: number;
}

/** Limits a collection to these candidates (a failed pull's own new content). */
export interface GarbageScope {
  readonly layers: readonly Digest[];
  readonly blobs: readonly Digest[];
}

/**
 * Removes unreferenced blobs and layers that no other live process has leased; with
 * `scope`, only those candidates (leases of this process do not protect them then).
 */
export async function collectGarbage(store: ContentStore, records: ImageRecords, scope?: GarbageScope): Promise<GarbageResult> {
  if (scope === undefined) await store.recover();
  const hidden: string[] = [];
  let layers = 0;
  let blobs = 0;
  let reclaimedBytes = 0;
  await records.withWriteLock(async () => {
    const leased = records.liveLeases((pid) => (scope === undefined || pid !== process.pid) && isProcessAlive(pid));
    const usedLayers = records.referencedLayers();
    const usedBlobs = records.referencedBlobs();
    for (const diffId of scope?.layers ?? (await store.listLayers())) {
      if (usedLayers.has(diffId) || leased.has(diffId)) continue;
      const size = records.layerSize(diffId as Digest) ?? 0;
      const gone = await store.hideLayer(diffId);
      if (gone === undefined) continue;
      hidden.push(gone.path);
      layers++;
      reclaimedBytes += size;
    }
    for (const digest of scope?.blobs ?? (await store.listBlobs())) {
      if (usedBlobs.has(digest) || leased.has(digest)) continue;
      const gone = await store.hideBlob(digest);
      if (gone === undefined) continue;
      hidden.push(gone.path);
      blobs++;
      reclaimedBytes += gone.bytes;
    }
    records.forgetUnusedLayers();
  });
  for (const path of hidden) await store.discard(path);
  return { layers, blobs, reclaimedBytes };
}
