/**
 * Pulling an image (distribution-spec "Pulling manifests" and "Pulling blobs"): resolve the
 * reference to a manifest (through an index by platform when needed), fetch and check the
 * config, then fetch and unpack the layers in parallel, and record the image only when every
 * piece is in the store. Content the pull works on is leased, so `image prune` running at
 * the same time leaves it alone.
 */
import type { Readable } from 'node:stream';
import { DigestCounter } from '../common/digests.js';
import { InvalidContentError, NotFoundError, UnsupportedError, throwIfAborted } from '../common/errors.js';
import {
  isManifestMediaType, layerCompressionOf, type Descriptor, type Digest, type ImageConfig, type ImageManifest, type SchemaValidator,
} from '../oci/index.js';
import type { ContentStore } from './content-store.js';
import { collectGarbage } from './garbage.js';
import { maxDocumentBytes, parseImageConfig, parseImageDocument } from './documents.js';
import type { ImageRecords } from './image-records.js';
import { fetchLayer, type LayerOutcome } from './layer-fetch.js';
import { InProcessUnpacker, type LayerUnpacker } from './layer-unpacker.js';
import { formatPlatform, hostPlatform, selectManifest, type PlatformSpec } from './platform.js';
import { referenceString, repositoryName, type ImageReference } from './reference.js';
import type { UnpackLimits } from './unpack/index.js';

/** A repository on a registry. */
export interface Repository {
  readonly domain: string;
  readonly path: string;
}

/** What a pull needs from a registry (RegistryClient provides it). */
export interface RegistrySource {
  getManifest(repo: Repository, reference: string, opts: { signal?: AbortSignal }): Promise<{ mediaType: string; digest: Digest; bytes: Buffer }>;
  getBlob(repo: Repository, digest: Digest, opts: { signal?: AbortSignal }): Promise<{ body: Readable; size: number | undefined }>;
}

/** Progress events of a pull, for the CLI's bars and lines. */
export interface PullProgress {
  /** The layers to fetch are known. */
  layers?(layers: readonly Descriptor[]): void;
  /** Compressed bytes of a layer arrived. */
  bytes?(layer: Digest, n: number): void;
  /** A layer is in the store. */
  layerDone?(layer: Digest, outcome: LayerOutcome): void;
}

/** Options of {@link ImagePuller.pull}. */
export interface PullOptions {
  readonly platform?: PlatformSpec | undefined;
  readonly signal?: AbortSignal | undefined;
  readonly progress?: PullProgress | undefined;
  readonly limits?: Partial<UnpackLimits> | undefined;
}

/** What a pull did. */
export interface PullResult {
  /** Full reference pulled, e.g. `docker.io/library/busybox:latest`. */
  readonly reference: string;
  readonly imageId: Digest;
  /** Digest of what the reference resolved to (an index for multi-platform images). */
  readonly digest: Digest;
  /** True when something new was downloaded or recorded. */
  readonly changed: boolean;
}

/** Dependencies of an {@link ImagePuller}. */
export interface ImagePullerDeps {
  readonly registry: RegistrySource;
  readonly store: ContentStore;
  readonly records: ImageRecords;
  readonly validator: SchemaValidator;
  /** Layers fetched at once (docker's max-concurrent-downloads defaults to 3). */
  readonly concurrency?: number;
  /** Whether unpacking may chown and mknod (root). */
  readonly privileged: boolean;
  /** Where layers are unpacked; default this thread (the CLI uses worker threads). */
  readonly unpacker?: LayerUnpacker | undefined;
}

/** Pulls images into a store. */
export class ImagePuller {
  readonly #deps: ImagePullerDeps;

  constructor(deps: ImagePullerDeps) {
    this.#deps = deps;
  }

  /** Pulls `ref` (tag or digest) for the wanted platform. */
  async pull(ref: ImageReference, options: PullOptions = {}): Promise<PullResult> {
    const { records, store } = this.#deps;
    const controller = new AbortController();
    // What this pull added to the store, removed again if the pull fails.
    const created: { layers: Digest[]; blobs: Digest[] } = { layers: [], blobs: [] };
    let succeeded = false;
    const onAbort = (): void => controller.abort(options.signal?.reason);
    options.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      await store.init();
      // Leftovers of pulls that were killed (kill -9, a crash) go first.
      await store.recover();
      const resolved = await this.#resolve(ref, options.platform ?? hostPlatform(), controller.signal);
      const { manifest, config } = resolved;
      records.lease([resolved.topDigest, resolved.manifestDigest, manifest.config.digest, ...manifest.layers.map((l) => l.digest), ...config.rootfs.diff_ids]);
      const sizes = await this.#fetchLayers(ref, manifest, config, options, controller, created);
      await store.writeBlob(manifest.config.digest, resolved.configBytes);
      await store.writeBlob(resolved.manifestDigest, resolved.manifestBytes);
      if (resolved.indexBytes !== undefined) await store.writeBlob(resolved.topDigest, resolved.indexBytes);
      throwIfAborted(controller.signal, 'Pull');
      const changed = this.#record(ref, resolved, sizes);
      succeeded = true;
      return { reference: referenceString(ref), imageId: manifest.config.digest, digest: resolved.topDigest, changed };
    } finally {
      options.signal?.removeEventListener('abort', onAbort);
      // A failed pull leaves the store as it was: its verified layers go too, unless an image
      // or another running pull uses them. (Killed pulls leave whole layers that the next
      // pull reuses and `image prune` removes.)
      if (!succeeded && (created.layers.length > 0 || created.blobs.length > 0)) await collectGarbage(store, records, created);
      records.releaseLeases();
    }
  }

  /** Records the pulled image with its tag and repo digest; true when that changed anything. */
  #record(ref: ImageReference, resolved: Resolved, sizes: readonly number[]): boolean {
    const { manifest, config } = resolved;
    const tag = ref.digest === undefined && ref.tag !== undefined ? referenceString(ref) : undefined;
    const repoDigest = `${repositoryName(ref)}@${resolved.topDigest}`;
    const before = this.#deps.records.byId(manifest.config.digest);
    this.#deps.records.save(
      {
        id: manifest.config.digest, manifestDigest: resolved.manifestDigest, manifestType: resolved.manifestType,
        configSize: resolved.configBytes.length, os: config.os, architecture: config.architecture, variant: config.variant,
        created: config.created, pulledAt: new Date().toISOString(),
        layers: manifest.layers.map((l, i) => ({
          diffId: config.rootfs.diff_ids[i] as Digest, blobDigest: l.digest, blobSize: l.size, mediaType: l.mediaType, size: sizes[i] ?? 0,
        })),
        blobs: [resolved.manifestDigest, manifest.config.digest, ...(resolved.indexBytes === undefined ? [] : [resolved.topDigest])],
      },
      { tag, repoDigest },
    );
    return before === undefined || !before.repoDigests.includes(repoDigest) || (tag !== undefined && !before.tags.includes(tag));
  }

  async #resolve(ref: ImageReference, platform: PlatformSpec, signal: AbortSignal): Promise<Resolved> {
    const { registry, validator } = this.#deps;
    const name = referenceString(ref);
    const top = await registry.getManifest(ref, ref.digest ?? ref.tag ?? 'latest', { signal });
    let doc = parseImageDocument(top.bytes, top.mediaType, validator, `the manifest of "${name}"`);
    let manifestDigest = top.digest;
    let manifestBytes = top.bytes;
    let indexBytes: Buffer | undefined;
    if (doc.kind === 'index') {
      // Entries of media types berth does not know (artifacts, nested indexes) are skipped:
      // "An encountered mediaType that is unknown to the implementation MUST NOT generate an
      // error" (image-spec image-index.md, "manifests").
      const entry = selectManifest(doc.index.manifests.filter((m) => isManifestMediaType(m.mediaType)), platform);
      if (entry === undefined) {
        const offered = doc.index.manifests.filter((m) => m.platform !== undefined && m.platform.os !== 'unknown');
        throw new NotFoundError(`Cannot pull "${name}": it has no image for platform "${formatPlatform(platform)}"`, {
          hint: offered.length === 0 ? 'The index lists no platforms' : `It offers: ${offered.map((m) => formatPlatform(m.platform as NonNullable<Descriptor['platform']>)).join(', ')}; choose one with --platform`,
        });
      }
      indexBytes = top.bytes;
      const sub = await registry.getManifest(ref, entry.digest, { signal });
      doc = parseImageDocument(sub.bytes, sub.mediaType, validator, `the manifest "${entry.digest}" of "${name}"`);
      if (doc.kind !== 'manifest') throw new UnsupportedError(`Cannot pull "${name}": its index points to another index`, { hint: 'Nested indexes are not supported' });
      manifestDigest = sub.digest;
      manifestBytes = sub.bytes;
    }
    if (doc.kind !== 'manifest') throw new InvalidContentError(`Cannot pull "${name}": no manifest found`);
    const manifest = doc.manifest;
    for (const layer of manifest.layers) {
      if (layerCompressionOf(layer.mediaType) === undefined) {
        throw new UnsupportedError(`Cannot pull "${name}": layer "${layer.digest}" has the unsupported media type "${layer.mediaType}"`, {
          hint: 'berth unpacks tar layers, uncompressed or compressed with gzip or zstd',
        });
      }
    }
    const configBytes = await this.#readSmallBlob(ref, manifest.config, signal, `the config of "${name}"`);
    const config = parseImageConfig(configBytes, manifest, validator, `the config of "${name}"`);
    return { topDigest: top.digest, manifestDigest, manifestBytes, manifestType: doc.mediaType, manifest, config, configBytes, indexBytes };
  }

  async #readSmallBlob(repo: Repository, d: Descriptor, signal: AbortSignal, what: string): Promise<Buffer> {
    if (d.size > maxDocumentBytes) throw new InvalidContentError(`Cannot read ${what}: it declares ${d.size} bytes, more than the ${maxDocumentBytes} allowed`);
    if (await this.#deps.store.hasBlob(d.digest)) return this.#deps.store.readBlob(d.digest);
    const { body } = await this.#deps.registry.getBlob(repo, d.digest, { signal });
    const counter = new DigestCounter({ what, maxBytes: d.size });
    const chunks: Buffer[] = [];
    body.on('error', (err) => counter.destroy(err));
    for await (const chunk of body.pipe(counter)) chunks.push(chunk as Buffer);
    counter.verify({ digest: d.digest, size: d.size });
    return Buffer.concat(chunks);
  }

  async #fetchLayers(
    repo: Repository, manifest: ImageManifest, config: ImageConfig, options: PullOptions, controller: AbortController,
    created: { layers: Digest[]; blobs: Digest[] },
  ): Promise<number[]> {
    const { store, registry, privileged } = this.#deps;
    const unpacker = this.#deps.unpacker ?? new InProcessUnpacker();
    options.progress?.layers?.(manifest.layers);
    const sizes: number[] = [];
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < manifest.layers.length && !controller.signal.aborted) {
        const i = next++;
        const descriptor = manifest.layers[i] as Descriptor;
        const diffId = config.rootfs.diff_ids[i] as Digest;
        const { outcome, size } = await fetchLayer({
          descriptor, diffId, store, privileged, signal: controller.signal, limits: options.limits, unpacker,
          compression: layerCompressionOf(descriptor.mediaType) ?? 'none',
          fetch: async (digest, signal) => registry.getBlob(repo, digest, { signal }),
          onBytes: (n) => options.progress?.bytes?.(descriptor.digest, n),
        });
        sizes[i] = size;
        if (outcome !== 'exists') created.layers.push(diffId);
        if (outcome === 'downloaded') created.blobs.push(descriptor.digest);
        options.progress?.layerDone?.(descriptor.digest, outcome);
      }
    };
    // The first failure stops the others; it is the one to report, not their interruptions.
    let firstError: unknown;
    const workers = Array.from({ length: Math.min(this.#deps.concurrency ?? 3, manifest.layers.length) }, async () => {
      try {
        await worker();
      } catch (err) {
        if (firstError === undefined) {
          firstError = err;
          controller.abort(err);
        }
      }
    });
    await Promise.all(workers);
    if (firstError !== undefined) throw firstError;
    // Layers that were already present keep the size recorded when they were first unpacked.
    return this.#knownSizes(config, sizes);
  }

  #knownSizes(config: ImageConfig, sizes: number[]): number[] {
    return config.rootfs.diff_ids.map((d, i) => {
      const s = sizes[i];
      return s !== undefined && s >= 0 ? s : this.#deps.records.layerSize(d) ?? 0;
    });
  }
}

interface Resolved {
  readonly topDigest: Digest;
  readonly manifestDigest: Digest;
  readonly manifestBytes: Buffer;
  readonly manifestType: string;
  readonly manifest: ImageManifest;
  readonly config: ImageConfig;
  readonly configBytes: Buffer;
  readonly indexBytes: Buffer | undefined;
}
