/** Small helpers for commander options that several commands share. */
import { UsageError } from '../common/errors.js';

/** Accumulates a repeatable option's values (`-e A -e B`). */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** KEY=VALUE values (--label, -o) as a record; a KEY alone gets ''. */
export function keyValues(values: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const l of values) {
    const eq = l.indexOf('=');
    out[eq < 0 ? l : l.slice(0, eq)] = eq < 0 ? '' : l.slice(eq + 1);
  }
  return out;
}

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
