/**
 * Filesystem calls Node.js lacks, from berth's small N-API addon (common/sys/native/fsx.c):
 * mknod, extended attributes on links, and openat2(RESOLVE_IN_ROOT) path resolution.
 * Errors are thrown as Node-style system errors (`code`, `errno`, `syscall`, `path`).
 */
import { createRequire } from 'node:module';

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
}

/** Loads the addon. Node's module cache makes repeated calls free. */
export function loadFsx(): Fsx {
  const require = createRequire(import.meta.url);
  // The build output sits in the source tree; this module runs from common/sys/ (vitest
  // runs the sources), dist/common/sys/ (tsc output) or dist/berth.mjs (the bundle).
  const candidates = [
    './native/build/Release/berth_fsx.node',
    '../../../common/sys/native/build/Release/berth_fsx.node',
    '../common/sys/native/build/Release/berth_fsx.node',
  ];
  let lastError: unknown;
  for (const candidate of candidates) {
    try {
      return require(candidate) as Fsx;
    } catch (err) {
      lastError = err;
    }
  }
  throw new Error('berth native addon is not built: run "npm install" (or "npm run build:native")', { cause: lastError });
}
