/** OCI image and runtime spec types, media types, digests and schema validation. */
export * from './digest.js';
export * from './media-types.js';
export * from './image.js';
export * from './schema.js';
export * from './runtime.js';
