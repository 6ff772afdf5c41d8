/**
 * What pulling needs beyond the local store: the registry client (undici, HTTP), layer
 * decompression (zlib) and unpacking (worker threads, tar). Loaded through
 * {@link loadPulling} by the commands that pull, so that the others do not load it at
 * start-up.
 */
export { InProcessUnpacker, WorkerUnpacker } from './layer-unpacker.js';
export { ImagePuller } from './pull.js';
export { CredentialStore, RegistryClient, dispatcherTrusting } from './registry/index.js';
export { defaultUnpackLimits, unpackLayer } from './unpack/index.js';
