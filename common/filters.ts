/**
 * docker's list filters (`--filter key=value` of ps, network ls, volume ls, images; the
 * API's `filters` query parameter carries the same keys and values).
 */
import { UsageError } from './errors.js';

/** `--filter key=value` values by key, refusing keys not in `keys` (docker's ls and ps filters). */
export function parseFilters(filters: readonly string[], keys: readonly string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const f of filters) {
    const eq = f.indexOf('=');
    if (eq <= 0) throw new UsageError(`Bad format of filter "${f}"`, { hint: `Use key=value, e.g. ${keys[0] ?? 'name'}=...` });
    const key = f.slice(0, eq);
    if (!keys.includes(key)) throw new UsageError(`Invalid filter "${key}"`, { hint: `Filter by ${keys.join(', ')}` });
    out.set(key, [...(out.get(key) ?? []), f.slice(eq + 1)]);
  }
  return out;
}
