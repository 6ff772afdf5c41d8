/**
 * Media types berth reads and writes: OCI (image-spec media-types.md) and Docker's
 * Image Manifest V2 Schema 2, which image-spec media-types.md "Compatibility Matrix"
 * maps onto the OCI ones.
 */
export const MediaType = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistributable: 'application/vnd.oci.image.layer.nondistributable.v1.tar',
  ociLayerNondistributableGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  ociLayerNondistributableZstd: 'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  ociEmpty: 'application/vnd.oci.empty.v1+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerLayerForeignGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerLayerTar: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerZstd: 'application/vnd.docker.image.rootfs.diff.tar.zstd',
} as const;

/** Compression of a layer blob. */
export type LayerCompression = 'none' | 'gzip' | 'zstd';

const layerCompression: ReadonlyMap<string, LayerCompression> = new Map([
  [MediaType.ociLayer, 'none'],
  [MediaType.ociLayerGzip, 'gzip'],
  [MediaType.ociLayerZstd, 'zstd'],
  [MediaType.ociLayerNondistributable, 'none'],
  [MediaType.ociLayerNondistributableGzip, 'gzip'],
  [MediaType.ociLayerNondistributableZstd, 'zstd'],
  [MediaType.dockerLayerGzip, 'gzip'],
  [MediaType.dockerLayerForeignGzip, 'gzip'],
  [MediaType.dockerLayerTar, 'none'],
  [MediaType.dockerLayerZstd, 'zstd'],
]);

/** The compression of a layer media type, or undefined when it is not a layer type berth can unpack. */
export function layerCompressionOf(mediaType: string): LayerCompression | undefined {
  return layerCompression.get(mediaType);
}

/** True for index and manifest-list media types. */
export function isIndexMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociIndex || mediaType === MediaType.dockerManifestList;
}

/** True for single-image manifest media types. */
export function isManifestMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociManifest || mediaType === MediaType.dockerManifest;
}

/** True for image config media types. */
export function isConfigMediaType(mediaType: string): boolean {
  return mediaType === MediaType.ociConfig || mediaType === MediaType.dockerConfig;
}

/** The Accept header for manifest requests: every manifest and index type berth understands. */
export const manifestAccept: readonly string[] = [
  MediaType.ociIndex,
  MediaType.ociManifest,
  MediaType.dockerManifestList,
  MediaType.dockerManifest,
];
