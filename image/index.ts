/** image/: registry client, content store, layer unpacking, pulls and local image operations. */
export { ContentStore, type BlobIngest, type LayerStaging } from './content-store.js';
export { collectGarbage, type GarbageResult } from './garbage.js';
export { ImageRecords, type ImageRecord, type ImageLayerRecord } from './image-records.js';
export { ImageService, type PruneResult, type RemoveEvent } from './image-service.js';
export { inspectImage } from './inspect.js';
export { InProcessUnpacker, WorkerUnpacker, type LayerUnpacker } from './layer-unpacker.js';
export { formatPlatform, hostPlatform, parsePlatform, type PlatformSpec } from './platform.js';
export { ImagePuller, type PullOptions, type PullProgress, type PullResult, type RegistrySource } from './pull.js';
export {
  familiarName, familiarString, parseReference, referenceString, repositoryName, type ImageReference,
} from './reference.js';
export { CredentialStore, RegistryClient } from './registry/index.js';
export { defaultUnpackLimits, unpackLayer, type UnpackLimits } from './unpack/index.js';
