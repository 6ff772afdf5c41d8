/**
 * Start-up tracing for performance work: with BERTH_TRACE=1, `trace(label)` writes the
 * milliseconds since the process started and the label to stderr. Off, it costs one
 * boolean test.
 */
const enabled = process.env['BERTH_TRACE'] === '1';

/** Marks a point in this process's run (BERTH_TRACE=1). */
export function trace(label: string): void {
  if (enabled) process.stderr.write(`berth-trace ${performance.now().toFixed(1).padStart(7)} ms ${label}\n`);
}
