/**
 * Output formatting shared by commands, matching docker's CLI: sizes as go-units
 * `HumanSizeWithPrecision(n, 3)` (decimal units), durations as `HumanDuration`, short IDs
 * of 12 hex digits, and left-aligned tables with three-space gutters.
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

/** `2 weeks`, `About an hour`, like go-units HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < 1) return 'Less than a second';
  if (seconds === 1) return '1 second';
  if (seconds < 60) return `${seconds} seconds`;
  const minutes = Math.floor(seconds / 60);
  if (minutes === 1) return 'About a minute';
  if (minutes < 60) return `${minutes} minutes`;
  const hours = Math.round(minutes / 60);
  if (hours === 1) return 'About an hour';
  if (hours < 48) return `${hours} hours`;
  if (hours < 24 * 7 * 2) return `${Math.floor(hours / 24)} days`;
  if (hours < 24 * 30 * 2) return `${Math.floor(hours / 24 / 7)} weeks`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24 / 30)} months`;
  return `${Math.floor(hours / 24 / 365)} years`;
}

/** `2 weeks ago` for an ISO timestamp; `N/A` when unknown. */
export function since(iso: string | undefined, now: number = Date.now()): string {
  if (iso === undefined) return 'N/A';
  const t = Date.parse(iso);
  if (Number.isNaN(t) || t <= 0) return 'N/A';
  return `${humanDuration(now - t)} ago`;
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
