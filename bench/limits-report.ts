/**
 * The limits benchmark's result as markdown, in the start benchmark's shape (start-report.ts):
 * the run rows with and without limits (median, min, max, ratio to podman's row with the same
 * flags), the cost the limits add to each engine's run with the goal line, then the
 * `stats --no-stream` rows with the ratio to podman's.
 */
import { machineLine, type ToolResult } from './report.js';
import { formatMs, summaryOf, tableRow } from './start-report.js';
import { summarize } from './stats.js';

/** Limits may add less than this many ms to berth's run: the goal. */
export const addedGoalMs = 5;

/** The engines, in table order. */
const engines = ['berth', 'podman', 'docker'] as const;

/** What the heading and notes say about the run. */
export interface LimitsRunInfo {
  readonly date: Date;
  readonly runs: number;
  readonly warmup: number;
  readonly imageLine: string;
  readonly storeFs: string;
  /** e.g. `--memory 64m --cpus 1 --pids-limit 100`. */
  readonly flags: string;
  /** How many containers run during the stats rows. */
  readonly containers: number;
  readonly command: string;
  readonly notes: readonly string[];
}

/**
 * The whole report. `run` holds the ids `berth`, `berth-limits`, `podman`, ...; `stats` the
 * ids `berth-stats`, `podman-stats`, `docker-stats`.
 */
export function formatLimitsReport(run: readonly ToolResult[], stats: readonly ToolResult[], info: LimitsRunInfo): string {
  const rounds = `${info.runs} timed run${info.runs === 1 ? '' : 's'} after ${info.warmup} warm-up round${info.warmup === 1 ? '' : 's'}, ` +
    'tools interleaved round-robin; wall time from spawn to exit of the whole command';
  const lines = [
    `### Limits and stats benchmark, ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machineLine()}; stores on ${info.storeFs}.`,
    `Image: ${info.imageLine}; pushed to docker-registry 2.8 on 127.0.0.1 and pulled by each engine before timing.`,
  ];
  if (run.length > 0) {
    lines.push(`Each command starts a container running \`true\` with \`--network none\` and removes it (\`--rm\`), with and without \`${info.flags}\`; ${rounds}.`, '');
    lines.push(...runTable(run), '', ...addedTable(run), '', addedGoalLine(run));
  }
  if (stats.length > 0) {
    const podman = summaryOf(stats.find((r) => r.id === 'podman-stats'));
    lines.push('', '#### Stats of running containers', '');
    lines.push(`Each engine first starts ${info.containers} containers running \`sleep 3600\` with \`--network none\`, untimed; ` +
      `each timed command is one \`stats --no-stream\` (output to /dev/null); ${rounds}; the containers are removed after the stats rounds.`, '');
    lines.push('| command | median | min | max | median ÷ podman stats |', '|---|---:|---:|---:|---:|');
    for (const r of stats) lines.push(tableRow(r, podman));
  }
  if (info.notes.length > 0) lines.push('', 'Notes:', ...info.notes.map((n) => `- ${n}`));
  lines.push('', `Command: \`${info.command}\``);
  return `${lines.join('\n')}\n`;
}

/** Every run row; the ratio is to podman's row with the same flags. */
function runTable(run: readonly ToolResult[]): string[] {
  const lines = ['| command | median | min | max | median ÷ podman (same flags) |', '|---|---:|---:|---:|---:|'];
  for (const r of run) {
    const suffix = r.id.endsWith('-limits') ? '-limits' : '';
    lines.push(tableRow(r, summaryOf(run.find((p) => p.id === `podman${suffix}`))));
  }
  return lines;
}

/**
 * Per engine: plain and limited medians, their difference, and the median of the per-round
 * differences (the two rows ran in the same rounds, a few hundred ms apart, so pairing them
 * cancels some of the machine's drift).
 */
function addedTable(run: readonly ToolResult[]): string[] {
  const lines = [
    '| engine | plain run, median | with limits, median | added (difference of medians) | added (median of per-round differences) |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const engine of engines) {
    const plain = run.find((r) => r.id === engine);
    const limited = run.find((r) => r.id === `${engine}-limits`);
    if (plain === undefined || limited === undefined) continue;
    const a = summaryOf(plain);
    const b = summaryOf(limited);
    if (a === undefined || b === undefined) {
      lines.push(`| ${engine} | ${a === undefined ? 'n/a' : formatMs(a.median)} | ${b === undefined ? 'n/a' : formatMs(b.median)} | n/a | n/a |`);
      continue;
    }
    const paired = pairedMedian(plain.times, limited.times);
    lines.push(`| ${engine} | ${formatMs(a.median)} | ${formatMs(b.median)} | ${signedMs(b.median - a.median)} | ` +
      `${paired === undefined ? 'n/a' : signedMs(paired)} |`);
  }
  return lines;
}

function addedGoalLine(run: readonly ToolResult[]): string {
  const a = summaryOf(run.find((r) => r.id === 'berth'));
  const b = summaryOf(run.find((r) => r.id === 'berth-limits'));
  if (a === undefined || b === undefined) return `Limits added to berth's run: n/a (no timings); goal < ${addedGoalMs} ms.`;
  const added = b.median - a.median;
  return `Limits added to berth's run: **${signedMs(added)}** (difference of medians; goal < ${addedGoalMs} ms: ${added < addedGoalMs ? 'met' : 'not met'}).`;
}

/** The median of `limited[i] − plain[i]` over the rounds both have. */
function pairedMedian(plain: readonly number[], limited: readonly number[]): number | undefined {
  const n = Math.min(plain.length, limited.length);
  if (n === 0) return undefined;
  const diffs: number[] = [];
  for (let i = 0; i < n; i++) diffs.push((limited[i] ?? 0) - (plain[i] ?? 0));
  return summarize(diffs).median;
}

/** `+3.2 ms`, `−1.0 ms`. */
function signedMs(ms: number): string {
  return `${ms < 0 ? '−' : '+'}${formatMs(Math.abs(ms))}`;
}
