/**
 * Flattened root filesystems to compare against: umoci's unpack of an OCI layout (the
 * independent unpacker), and a read-only overlayfs over berth's per-layer directories
 * (the view a container gets). In the merged view, overlay whiteouts (0/0 char devices)
 * and `trusted.overlay.opaque` directories of the layer dirs have done their work and
 * are gone, which is what to compare. Both need root (mount(2); umoci as root keeps
 * owners, devices and trusted/security xattrs).
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { makeTempDir, removeDir, run } from './exec.js';

/** A rootfs unpacked by umoci. `remove()` deletes the bundle; call it in `finally`. */
export interface UnpackedRootfs {
  /** The rootfs directory (`BUNDLE/rootfs`). */
  readonly dir: string;
  /** The bundle umoci made (config.json, umoci.json, rootfs/). */
  readonly bundle: string;
  remove(): Promise<void>;
}

/**
 * `umoci unpack --image LAYOUT:TAG BUNDLE` into a fresh temp dir (`--rootless` when not
 * root). umoci 0.4.7 cannot read zstd layers.
 */
export async function umociUnpack(layoutDir: string, tag: string): Promise<UnpackedRootfs> {
  const dir = await makeTempDir('umoci');
  try {
    const bundle = join(dir, 'bundle');
    const rootless = process.getuid?.() === 0 ? [] : ['--rootless'];
    await run('umoci', ['unpack', ...rootless, '--image', `${layoutDir}:${tag}`, bundle]);
    return { dir: join(bundle, 'rootfs'), bundle, remove: () => removeDir(dir) };
  } catch (err) {
    await removeDir(dir);
    throw err;
  }
}

/** A read-only overlay mount. `unmount()` unmounts it and removes what was created for it. */
export interface MergedLayers {
  /** The merged view. */
  readonly dir: string;
  unmount(): Promise<void>;
}

/** Options for {@link mergeLayersWithOverlay}. */
export interface MergeOptions {
  /** An existing empty directory to mount on; default a fresh temp dir, removed on unmount. */
  readonly at?: string;
  /** More overlay options, e.g. `userxattr` (overlayfs.rst "Mount options"). */
  readonly mountOptions?: readonly string[];
}

/**
 * Mounts `lowerDirs` (topmost first, as overlayfs `lowerdir=` takes them) read-only with
 * `mount -t overlay`. overlayfs needs two lowers when there is no upper, so a single layer
 * gets an empty directory beneath it.
 */
export async function mergeLayersWithOverlay(lowerDirs: readonly string[], options: MergeOptions = {}): Promise<MergedLayers> {
  if (lowerDirs.length === 0) throw new Error('Cannot merge layers: no lower directories given');
  for (const lower of lowerDirs) {
    // ':' separates lowers and ',' options; temp and store paths never hold them.
    if (/[:,\\]/.test(lower)) throw new Error(`Cannot use "${lower}" as an overlay lower: it contains ":", "," or "\\"`);
  }
  const scratch = await makeTempDir('overlay');
  let mounted = false;
  const mountpoint = options.at ?? join(scratch, 'merged');
  try {
    const lowers = [...lowerDirs];
    if (lowers.length === 1) {
      const empty = join(scratch, 'empty');
      await mkdir(empty);
      lowers.push(empty);
    }
    if (options.at === undefined) await mkdir(mountpoint);
    const mountOptions = ['ro', `lowerdir=${lowers.join(':')}`, ...(options.mountOptions ?? [])].join(',');
    await run('mount', ['-t', 'overlay', 'overlay', '-o', mountOptions, mountpoint]);
    mounted = true;
  } catch (err) {
    await removeDir(scratch);
    throw err;
  }
  let done: Promise<void> | undefined;
  return {
    dir: mountpoint,
    unmount: () => {
      done ??= (async () => {
        try {
          if (mounted) await unmountWithRetry(mountpoint);
        } finally {
          await removeDir(scratch);
        }
      })();
      return done;
    },
  };
}

/** umount(8); a busy mount gets a few retries, then a lazy detach so nothing stays mounted. */
async function unmountWithRetry(mountpoint: string): Promise<void> {
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      await run('umount', [mountpoint]);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  await run('umount', ['-l', mountpoint]);
}

/**
 * Runs `body` with the layers merged, and unmounts whatever happens. For tests that only
 * need the merged view inside one block.
 */
export async function withMergedLayers<T>(lowerDirs: readonly string[], body: (dir: string) => Promise<T>): Promise<T> {
  const merged = await mergeLayersWithOverlay(lowerDirs);
  try {
    return await body(merged.dir);
  } finally {
    await merged.unmount();
  }
}
