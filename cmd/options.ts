/** Small helpers for commander options that several commands share. */

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
