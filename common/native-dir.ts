/** Where berth's native programs are (dist/native, built by `make -C runtime/native`). */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The directory that has every file of `names`: BERTH_NATIVE_DIR when set, else `native/`
 * or `dist/native/` next to this module or up to five levels above it (next to the
 * bundle, or in the repository when berth runs from its sources, as in tests).
 */
export function findNativeDir(names: readonly string[], env: NodeJS.ProcessEnv = process.env): string | undefined {
  const override = env['BERTH_NATIVE_DIR'];
  const candidates: string[] = override !== undefined && override !== '' ? [override] : [];
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let level = 0; level < 5; level++) {
    candidates.push(join(dir, 'native'), join(dir, 'dist', 'native'));
    dir = dirname(dir);
  }
  return candidates.find((c) => names.every((n) => existsSync(join(c, n))));
}
