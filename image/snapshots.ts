/**
 * Snapshots: a container's root filesystem made from an image's layers, in the shape of
 * containerd's snapshotter (core/snapshots/snapshotter.go), cut down to what berth needs.
 * The engine asks for mounts and never computes lower or upper directories itself; the
 * builder and `commit` turn a container's writable layer into an image layer through
 * {@link Snapshotter.commit}.
 *
 * Lifecycle of a key (a container id): {@link Snapshotter.prepare} makes its writable
 * layer (upper and work directories, empty) and returns the overlay that mounts it over the
 * image's layers; {@link Snapshotter.mounts} returns the same overlay again later (start of
 * an exited container, cp of a stopped one) without touching the writable layer;
 * {@link Snapshotter.remove} deletes it. {@link Snapshotter.view} gives a read-only overlay
 * of layers alone, with no key. Nothing is mounted here: mounts are plain data that the
 * backend mounts where it runs the container (berth-helper in the container's own mount
 * namespace, the host for another OCI runtime, the guest for a VM).
 */
import { mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import type { Digest } from '../oci/index.js';
import type { OverlayMount } from '../common/backend.js';
import type { StateLayout } from '../common/paths.js';
import { ContentStore } from './content-store.js';
import type { CommitOptions, CommittedLayer } from './snapshot-commit.js';


/** A layer of an image, as the snapshotter needs it: its uncompressed digest. */
export interface SnapshotLayer {
  readonly diffId: Digest;
}

/**
 * The lower directories of an image's layers (given bottom first, as a manifest lists
 * them), topmost first, each layer once. A manifest may list the same layer twice
 * (docker and podman run such images); overlayfs refuses a lowerdir that appears twice
 * (ELOOP, "Too many levels of symbolic links"). Keeping only the topmost occurrence gives
 * the same tree: that copy holds every file the lower copy holds, above every layer between
 * them, so nothing the lower copy showed stays visible and nothing it hid comes back.
 */
export function lowerDirs(layers: readonly SnapshotLayer[], dirOf: (diffId: Digest) => string): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (let i = layers.length - 1; i >= 0; i--) {
    const layer = layers[i];
    if (layer === undefined || seen.has(layer.diffId)) continue;
    seen.add(layer.diffId);
    out.push(dirOf(layer.diffId));
  }
  return out;
}

/** Snapshots of one store (see the module comment for the lifecycle). */
export class Snapshotter {
  readonly #layout: StateLayout;

  constructor(layout: StateLayout) {
    this.#layout = layout;
  }

  /** The overlay of key `id` over `layers` (bottom first), without making anything. */
  mounts(id: string, layers: readonly SnapshotLayer[]): OverlayMount {
    const lowers = lowerDirs(layers, (d) => this.#layout.layerDiffDir(d));
    if (lowers.length === 0) throw new InvalidArgumentError('The image has no layers', { hint: 'Pull or build an image with at least one layer' });
    const dir = this.#layout.containerDir(id);
    return { type: 'overlay', lowers, upper: join(dir, 'upper'), work: join(dir, 'work') };
  }

  /**
   * Makes the writable layer of key `id` (empty upper and work directories in its
   * container directory, which must exist) and returns its overlay.
   */
  prepare(id: string, layers: readonly SnapshotLayer[]): OverlayMount {
    const mount = this.mounts(id, layers);
    // Synchronous, as the rest of the container's directory is made (runtime/ops/create.ts):
    // two mkdirs of microseconds each, where a round trip through libuv's pool costs more.
    for (const d of [mount.upper, mount.work]) if (d !== undefined) mkdirSync(d, { mode: 0o755 });
    return mount;
  }

  /** A read-only overlay of `layers` (bottom first): no writable layer, no key. */
  view(layers: readonly SnapshotLayer[]): OverlayMount {
    const lowers = lowerDirs(layers, (d) => this.#layout.layerDiffDir(d));
    if (lowers.length === 0) throw new InvalidArgumentError('The image has no layers', { hint: 'Pull or build an image with at least one layer' });
    return { type: 'overlay', lowers };
  }

  /** The writable layer of key `id`, as a directory (diff reads it, commit packs it). */
  upperDir(id: string): string {
    return join(this.#layout.containerDir(id), 'upper');
  }

  /** Where the writable layer of key `id` lives: its upper and work directories. */
  writable(id: string): { readonly upper: string; readonly work: string } {
    const dir = this.#layout.containerDir(id);
    return { upper: join(dir, 'upper'), work: join(dir, 'work') };
  }

  /**
   * Commits the writable layer of key `id` as a new layer of the store: a gzip tar blob
   * with OCI whiteouts, and its unpacked directory, ready to be a lower (snapshot-commit.ts).
   * The container must be stopped or paused. The writable layer is left as it is.
   */
  async commit(id: string, options: CommitOptions = {}): Promise<CommittedLayer> {
    // Loaded on first use, as image/index.ts loads the puller: it brings zlib and tar.
    const { commitUpper } = await import('./snapshot-commit.js');
    const store = new ContentStore(this.#layout);
    await store.init();
    return commitUpper(this.upperDir(id), store, options);
  }

  /** Removes the writable layer of key `id`; idempotent. */
  async remove(id: string): Promise<void> {
    const dir = this.#layout.containerDir(id);
    await Promise.all([rm(join(dir, 'upper'), { recursive: true, force: true }), rm(join(dir, 'work'), { recursive: true, force: true })]);
  }
}
