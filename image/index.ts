/** image/: registry client, content store, layer unpacking, pulls and local image operations. */
export { ContentStore, type BlobIngest, type BlobWriter, type LayerStaging } from './content-store.js';
export { collectGarbage, type GarbageResult } from './garbage.js';
export { ImageRecords, type ImageRecord, type ImageLayerRecord } from './image-records.js';
export { ImageService, type PruneResult, type RemoveEvent } from './image-service.js';
export { inspectImage } from './inspect.js';
export type { LayerUnpacker } from './layer-unpacker.js';
export { formatPlatform, hostPlatform, parsePlatform, type PlatformSpec } from './platform.js';
export type { PullOptions, PullProgress, PullResult, RegistrySource } from './pull.js';
export {
  familiarName, familiarString, parseReference, referenceString, repositoryName, type ImageReference,
} from './reference.js';
export type { CredentialStore, RegistryClient } from './registry/index.js';
export { normaliseServer } from './server-address.js';
export type { UnpackLimits } from './unpack/index.js';
export { Snapshotter, lowerDirs, type SnapshotLayer } from './snapshots.js';
export type { CommitOptions, CommittedLayer } from './snapshot-commit.js';

/**
 * The registry client, the puller and the unpackers ({@link ./pulling.ts}), loaded on
 * first use: they bring undici, zlib, worker threads and tar, which commands that do not
 * pull should not load at start-up.
 */
export function loadPulling(): Promise<typeof import('./pulling.js')> {
  return import('./pulling.js');
}
