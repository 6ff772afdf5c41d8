/**
 * Builds OCI image layouts on disk, offline, from specs (image-spec image-layout.md,
 * manifest.md, image-index.md, config.md). Output is reproducible: fixed mtimes and
 * `created`, gzip without a timestamp, so the same spec always gives the same digests.
 * Layers are built in memory: fixtures are small (busybox is the largest, ~2 MB).
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { MediaType, type Descriptor, type Digest, type ImageConfig, type ImageExecConfig, type ImageIndex, type ImageManifest, type Platform } from '../../oci/index.js';
import { run } from './exec.js';
import { buildTar, type TarEntry } from './tar.js';

/** Layer compression as written into the layout. */
export type Compression = 'gzip' | 'zstd' | 'none';

/** One layer: its tar entries, in archive order. */
export interface LayerSpec {
  readonly entries: readonly TarEntry[];
  /** Default: the image's `compression`. */
  readonly compression?: Compression;
  /** `created_by` of the history entry. */
  readonly createdBy?: string;
}

/** One image (manifest + config + layers). */
export interface ImageSpec {
  readonly layers: readonly LayerSpec[];
  /** Default: linux and the host's architecture. */
  readonly platform?: Platform;
  /** Default gzip. */
  readonly compression?: Compression;
  readonly config?: ImageExecConfig;
  /** Default 2024-01-01T00:00:00Z. */
  readonly created?: string;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A multi-platform image: an index of images, each carrying its platform. */
export interface IndexSpec {
  readonly images: readonly ImageSpec[];
  readonly annotations?: Readonly<Record<string, string>>;
}

/** A layer as written: blob descriptor plus the digest of the uncompressed tar. */
export interface BuiltLayer {
  readonly descriptor: Descriptor;
  readonly diffId: Digest;
  readonly compression: Compression;
}

/** An image as written into a layout. */
export interface BuiltImage {
  readonly kind: 'image';
  /** The manifest's descriptor, with `platform`. */
  readonly descriptor: Descriptor;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
  readonly configDescriptor: Descriptor;
  readonly layers: readonly BuiltLayer[];
}

/** An index as written into a layout. */
export interface BuiltIndex {
  readonly kind: 'index';
  readonly descriptor: Descriptor;
  readonly index: ImageIndex;
  readonly images: readonly BuiltImage[];
}

const layerMediaTypes: Readonly<Record<Compression, string>> = {
  gzip: MediaType.ociLayerGzip,
  zstd: MediaType.ociLayerZstd,
  none: MediaType.ociLayer,
};

/** The OCI platform of the machine running the tests. */
export function hostPlatform(): Platform {
  switch (process.arch) {
    case 'x64':
      return { architecture: 'amd64', os: 'linux' };
    case 'arm64':
      return { architecture: 'arm64', os: 'linux', variant: 'v8' };
    case 'arm':
      return { architecture: 'arm', os: 'linux', variant: 'v7' };
    default:
      return { architecture: process.arch, os: 'linux' };
  }
}

/** `sha256:<hex>` of some bytes. */
export function sha256Digest(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** Compresses a tar the way the layout stores it (zstd through the `zstd` CLI: Node 20 has none). */
export async function compress(tar: Buffer, compression: Compression): Promise<Buffer> {
  if (compression === 'gzip') return gzipSync(tar, { level: 6 });
  if (compression === 'zstd') return (await run('zstd', ['-q', '-c', '-3', '--no-progress'], { input: tar })).stdout;
  return tar;
}

/**
 * Writes (or extends) an OCI layout at `dir` with one entry in index.json per key of
 * `refs`, annotated `org.opencontainers.image.ref.name` = key (so `oci:DIR:KEY` names it).
 * Existing refs of the same name are replaced.
 */
export async function writeOciLayout(
  dir: string,
  refs: Readonly<Record<string, ImageSpec | IndexSpec>>,
): Promise<Record<string, BuiltImage | BuiltIndex>> {
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const built: Record<string, BuiltImage | BuiltIndex> = {};
  for (const [ref, spec] of Object.entries(refs)) {
    built[ref] = 'images' in spec ? await writeIndex(dir, spec) : await writeImage(dir, spec);
  }
  await tagLayout(
    dir,
    Object.entries(built).map(([ref, b]) => ({ ref, descriptor: b.descriptor })),
  );
  return built;
}

/** Adds or replaces index.json entries, each annotated with its ref name. */
export async function tagLayout(dir: string, tags: readonly { ref: string; descriptor: Descriptor }[]): Promise<void> {
  const path = join(dir, 'index.json');
  let manifests: Descriptor[] = [];
  try {
    manifests = (JSON.parse(await readFile(path, 'utf8')) as ImageIndex).manifests.slice();
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  const refKey = 'org.opencontainers.image.ref.name';
  const names = new Set(tags.map((t) => t.ref));
  manifests = manifests.filter((m) => !names.has(m.annotations?.[refKey] ?? ''));
  for (const { ref, descriptor } of tags) {
    const { platform: _platform, ...plain } = descriptor;
    manifests.push({ ...plain, annotations: { ...descriptor.annotations, [refKey]: ref } });
  }
  const index: ImageIndex = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests };
  await writeFile(path, JSON.stringify(index, null, 2));
}

/** Writes a blob into the layout, returning its descriptor. */
export async function writeBlob(dir: string, data: Buffer, mediaType: string): Promise<Descriptor> {
  const digest = sha256Digest(data);
  await mkdir(join(dir, 'blobs', 'sha256'), { recursive: true });
  await writeFile(join(dir, 'blobs', 'sha256', digest.slice('sha256:'.length)), data);
  return { mediaType, digest, size: data.length };
}

/** Builds one layer blob (tar, compressed) into the layout. */
export async function writeLayer(dir: string, spec: LayerSpec, fallback: Compression = 'gzip'): Promise<BuiltLayer> {
  const compression = spec.compression ?? fallback;
  const tar = buildTar(spec.entries);
  const descriptor = await writeBlob(dir, await compress(tar, compression), layerMediaTypes[compression]);
  return { descriptor, diffId: sha256Digest(tar), compression };
}

/** Builds one image (layers, config, manifest) into the layout. */
export async function writeImage(dir: string, spec: ImageSpec): Promise<BuiltImage> {
  const platform = spec.platform ?? hostPlatform();
  const created = spec.created ?? '2024-01-01T00:00:00Z';
  const layers: BuiltLayer[] = [];
  for (const layer of spec.layers) layers.push(await writeLayer(dir, layer, spec.compression ?? 'gzip'));
  const config: ImageConfig = {
    created,
    architecture: platform.architecture,
    os: platform.os,
    ...(platform.variant === undefined ? {} : { variant: platform.variant }),
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: spec.layers.map((l, i) => ({ created, created_by: l.createdBy ?? `berth test fixture layer ${i + 1}` })),
  };
  const configDescriptor = await writeBlob(dir, Buffer.from(JSON.stringify(config)), MediaType.ociConfig);
  const manifest: ImageManifest = {
    schemaVersion: 2,
    mediaType: MediaType.ociManifest,
    config: configDescriptor,
    layers: layers.map((l) => l.descriptor),
    ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }),
  };
  const written = await writeBlob(dir, Buffer.from(JSON.stringify(manifest)), MediaType.ociManifest);
  return { kind: 'image', descriptor: { ...written, platform }, manifest, config, configDescriptor, layers };
}

/** Builds an index and every image in it into the layout. */
export async function writeIndex(dir: string, spec: IndexSpec): Promise<BuiltIndex> {
  const images: BuiltImage[] = [];
  for (const image of spec.images) images.push(await writeImage(dir, image));
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MediaType.ociIndex,
    manifests: images.map((i) => i.descriptor),
    ...(spec.annotations === undefined ? {} : { annotations: spec.annotations }),
  };
  const descriptor = await writeBlob(dir, Buffer.from(JSON.stringify(index)), MediaType.ociIndex);
  return { kind: 'index', descriptor, index, images };
}
