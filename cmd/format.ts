/**
 * Output formatting shared by commands, matching docker's CLI: sizes as go-units
 * `HumanSizeWithPrecision(n, 3)` (decimal units), short IDs of 12 hex digits, and
 * left-aligned tables with three-space gutters. Durations (`HumanDuration`) are
 * runtime/durations.ts's: the daemon's status texts use them too.
 */

const sizeUnits = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
const binaryUnits = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];

/** `bytes` in the largest of `units` (each `base` times the last) that keeps it ≥ 1. */
function scaled(bytes: number, base: number, units: readonly string[], digits: number): string {
  let value = bytes;
  let unit = 0;
  while (value >= base && unit < units.length - 1) {
    value /= base;
    unit++;
  }
  return `${Number(value.toPrecision(digits))}${units[unit] ?? 'B'}`;
}

/** `4.26MB`, `812B`, like docker. */
export function humanSize(bytes: number): string {
  return scaled(bytes, 1000, sizeUnits, 3);
}

/** go-units BytesSize: `1.434MiB`, four significant digits, 1024-based, as docker stats shows memory. */
export function binarySize(bytes: number): string {
  return scaled(bytes, 1024, binaryUnits, 4);
}

/** The 12-digit short form of an ID or digest. */
export function shortId(id: string): string {
  const hex = id.includes(':') ? id.slice(id.indexOf(':') + 1) : id;
  return hex.slice(0, 12);
}

/** Renders rows under headers, columns padded to their widest cell plus three spaces. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd((widths[i] ?? 0) + 3))).join('').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
