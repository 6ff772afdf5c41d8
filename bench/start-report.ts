/**
 * The start benchmark's result as markdown, in the shape of the pull benchmark's report
 * (report.ts): a heading, the machine, a table of medians, min and max with the ratio to
 * podman's median, the goal line; then the default-network table, the exec table (ratio to
 * `podman exec`, with its own goal line) and the monitors' memory.
 */
import type { MonitorReading } from './monitors.js';
import { machineLine, type ToolResult } from './report.js';
import { formatRatio, summarize, type Summary } from './stats.js';

/** berth at most this fraction of podman's median: the issue's goal. */
export const startGoalRatio = 0.6;

/** berth-monitor's resident set at most this many kB (1 MiB): the issue's goal. */
export const monitorGoalKb = 1024;

/** What the heading and notes say about the run. */
export interface StartRunInfo {
  readonly date: Date;
  readonly runs: number;
  readonly warmup: number;
  /** e.g. `busybox v1.35.0 (Debian busybox-static), 1 layer, 2.0 MB tar`. */
  readonly imageLine: string;
  readonly storeFs: string;
  readonly command: string;
  /** Lines for the notes after the tables (workarounds, what could not run and why). */
  readonly notes: readonly string[];
}

/** Milliseconds with one decimal: `152.3 ms`. */
export function formatMs(ms: number): string {
  return `${ms.toFixed(1)} ms`;
}

/**
 * The whole report. `main` are the like-for-like (`--network none`) rows, `defaults` the
 * default-network ones, `exec` the `exec CONTAINER true` rows (ids `berth-exec`, `podman-exec`, ...).
 */
export function formatStartReport(
  main: readonly ToolResult[],
  defaults: readonly ToolResult[],
  exec: readonly ToolResult[],
  monitors: readonly MonitorReading[],
  info: StartRunInfo,
): string {
  const podman = summaryOf(main.find((r) => r.id === 'podman'));
  const lines = [
    `### Container start benchmark, ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machineLine()}; stores on ${info.storeFs}.`,
    `Image: ${info.imageLine}; pushed to docker-registry 2.8 on 127.0.0.1 and pulled by each engine before timing.`,
    `Each command starts a container running \`true\` and removes it (\`--rm\`); ${info.runs} timed run${info.runs === 1 ? '' : 's'} after ` +
      `${info.warmup} warm-up round${info.warmup === 1 ? '' : 's'}, tools interleaved round-robin; wall time from spawn to exit of the whole command.`,
    'berth has no bridge networks yet: its default network is none, so every engine gets `--network none` here ' +
      '(crun and runc: the bundle\'s new, empty network namespace).',
    '',
  ];
  // Empty when BENCH_TOOLS picks only other rows.
  if (main.length > 0) {
    lines.push(...table(main, podman, 'median ÷ podman'));
    lines.push('', goalLine(summaryOf(main.find((r) => r.id === 'berth')), podman));
  }
  if (defaults.length > 0) {
    const podmanDefault = summaryOf(defaults.find((r) => r.id === 'podman-default'));
    lines.push('', '#### Default networks (for information)', '');
    lines.push(...table(defaults, podmanDefault, 'median ÷ podman default'));
  }
  if (exec.length > 0) {
    const podmanExec = summaryOf(exec.find((r) => r.id === 'podman-exec'));
    lines.push('', '#### Exec into a running container', '');
    lines.push('Each engine first starts one container running `sleep 3600` with `--network none` (podman with the runtime named in its row; ' +
      'runc: `runc run -d` of the bundle set to run `sleep 3600`), untimed; each timed command is one `exec CONTAINER true`, ' +
      `${info.runs} timed run${info.runs === 1 ? '' : 's'} after ${info.warmup} warm-up round${info.warmup === 1 ? '' : 's'}, ` +
      'tools interleaved round-robin; the containers are removed after the exec rounds.', '');
    lines.push(...table(exec, podmanExec, 'median ÷ podman exec'));
    lines.push('', goalLine(summaryOf(exec.find((r) => r.id === 'berth-exec')), podmanExec, 'exec'));
  }
  if (monitors.length > 0) {
    lines.push('', '#### Monitor memory (one detached `sleep 60` container each)', '');
    lines.push('| process | VmRSS | anon + file |', '|---|---:|---:|');
    for (const m of monitors) {
      if (m.rss === undefined) lines.push(`| ${escapeCell(m.label)} | n/a: ${escapeCell(m.failure ?? '?')} | |`);
      else lines.push(`| ${escapeCell(m.label)} | ${m.rss.rssKb} kB | ${m.rss.anonKb} + ${m.rss.fileKb} kB |`);
    }
    const berth = monitors.find((m) => m.id === 'berth')?.rss;
    const conmon = monitors.find((m) => m.id === 'podman')?.rss;
    lines.push('', berth === undefined
      ? `berth-monitor: n/a; goal ≤ ${monitorGoalKb} kB.`
      : `berth-monitor: **${berth.rssKb} kB** (goal ≤ ${monitorGoalKb} kB: ${berth.rssKb <= monitorGoalKb ? 'met' : 'not met'})` +
        `${conmon === undefined ? '' : `; conmon ${conmon.rssKb} kB, ratio ${formatRatio(berth.rssKb / conmon.rssKb)}`}.`);
  }
  if (info.notes.length > 0) lines.push('', 'Notes:', ...info.notes.map((n) => `- ${n}`));
  lines.push('', `Command: \`${info.command}\``);
  return `${lines.join('\n')}\n`;
}

function table(results: readonly ToolResult[], base: Summary | undefined, ratioTitle: string): string[] {
  return [`| command | median | min | max | ${ratioTitle} |`, '|---|---:|---:|---:|---:|', ...results.map((r) => tableRow(r, base))];
}

/** One tool's row: median, min, max and the ratio of its median to `base`'s, or why it has none. */
export function tableRow(r: ToolResult, base: Summary | undefined): string {
  const s = summaryOf(r);
  if (s === undefined) return `| ${escapeCell(r.label)} | n/a: ${escapeCell(r.failure ?? 'no runs')} | | | |`;
  const ratio = base === undefined ? 'n/a' : formatRatio(s.median / base.median);
  return `| ${escapeCell(r.label)} | ${formatMs(s.median)} | ${formatMs(s.min)} | ${formatMs(s.max)} | ${ratio} |`;
}

function goalLine(berth: Summary | undefined, podman: Summary | undefined, what: 'run' | 'exec' = 'run'): string {
  const name = (tool: string): string => (what === 'exec' ? `${tool} exec` : tool);
  if (berth === undefined || podman === undefined) {
    return `${name('berth')} ÷ ${name('podman')}: n/a (${name(berth === undefined ? 'berth' : 'podman')} has no timings); goal ≤ ${startGoalRatio}.`;
  }
  const ratio = berth.median / podman.median;
  const which = what === 'exec' ? '' : ' (`--network none`)';
  return `${name('berth')} ÷ ${name('podman')}${which}: **${ratio.toFixed(2)}** (goal ≤ ${startGoalRatio}: ${ratio <= startGoalRatio ? 'met' : 'not met'}).`;
}

/** The tool's timings summarised; undefined when it failed or has none. */
export function summaryOf(r: ToolResult | undefined): Summary | undefined {
  if (r === undefined || r.failure !== undefined || r.times.length === 0) return undefined;
  return summarize(r.times);
}

/** Keeps a message on one table row. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 300);
}
