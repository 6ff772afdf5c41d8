/** Summary statistics for the benchmark's wall times. */

/** Median, min and max of a set of timings, in milliseconds. */
export interface Summary {
  readonly n: number;
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** Summarises `times` (milliseconds); the median of an even count is the mean of the middle two. */
export function summarize(times: readonly number[]): Summary {
  if (times.length === 0) throw new Error('Cannot summarise no timings');
  const sorted = [...times].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
  return { n: sorted.length, median, min: sorted[0] ?? 0, max: sorted[sorted.length - 1] ?? 0 };
}

/** Milliseconds as seconds with two decimals: `4.52 s`. */
export function formatSeconds(ms: number): string {
  return `${(ms / 1000).toFixed(2)} s`;
}

/** A ratio with two decimals: `0.47×`. */
export function formatRatio(ratio: number): string {
  return `${ratio.toFixed(2)}×`;
}
