/**
 * Filesystem calls Node.js lacks, from berth's small N-API addon (common/sys/native/fsx.c):
 * mknod, extended attributes on links, and openat2(RESOLVE_IN_ROOT) path resolution.
 * Errors are thrown as Node-style system errors (`code`, `errno`, `syscall`, `path`).
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { UnsupportedError } from '../errors.js';

/** The addon's functions. Every call is synchronous: each is a single syscall. */
export interface Fsx {
  /** mknod(2): `mode` includes the file type bits (S_IFCHR, S_IFBLK, S_IFIFO). */
  mknod(path: string, mode: number, major: number, minor: number): void;
  /** lsetxattr(2). */
  lsetxattr(path: string, name: string, value: Buffer): void;
  /** llistxattr(2). */
  llistxattr(path: string): string[];
  /** lgetxattr(2). */
  lgetxattr(path: string, name: string): Buffer;
  /** The host path `path` names when resolved inside `root` as if it were "/" (openat2(2) RESOLVE_IN_ROOT). */
  resolveInRoot(root: string, path: string): string;
  /**
   * Sets FS_TOPDIR_FL (chattr +T) on a directory so ext4 spreads its subdirectories over
   * block groups; false where the filesystem does not support the flag.
   */
  markTopDir(path: string): boolean;
  /** A new ISA-L gzip decoder (gunzip.c); concatenated members are one stream. */
  gunzipCreate(): GunzipHandle;
  /** Decompresses a chunk; throws an error with code Z_DATA_ERROR on corrupt data. */
  gunzipPush(handle: GunzipHandle, chunk: Buffer): Buffer[];
  /** Throws (code Z_BUF_ERROR) unless the stream ended at the end of a gzip member. */
  gunzipFinish(handle: GunzipHandle): void;
}

/** An opaque decoder state owned by the addon. */
export type GunzipHandle = { readonly __brand: 'GunzipHandle' };

/** Where node-gyp puts the addon, relative to the repository root. */
const addonPath = 'common/sys/native/build/Release/berth_fsx.node';

/**
 * Loads the addon. Node's module cache makes repeated calls free. The addon stays in the
 * source tree where node-gyp built it; this module runs from common/sys/ (vitest runs the
 * sources), dist/common/sys/ (tsc output) or dist/ and dist/chunks/ (the bundle), so the
 * repository root is found by walking up.
 */
export function loadFsx(): Fsx {
  const require = createRequire(import.meta.url);
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 6; level++) {
    const candidate = join(dir, addonPath);
    if (existsSync(candidate)) return require(candidate) as Fsx;
    dir = dirname(dir);
  }
  throw new UnsupportedError('berth native addon is not built', { hint: 'Run "npm install" (or "npm run build:native") in the berth checkout' });
}
