/**
 * The layer unpacker: an uncompressed OCI layer tar, streamed into a directory that
 * overlayfs uses as a lower (image-spec layer.md "Applying Changesets"), with every path
 * kept inside that directory and every resource bounded by {@link UnpackLimits}.
 */
export { unpackLayer, type LayerSource, type UnpackOptions, type UnpackResult } from './extract.js';
export { defaultUnpackLimits, resolveUnpackLimits, type UnpackLimits, type UnpackLimitName } from './limits.js';
export { opaqueXattr } from './whiteout.js';
