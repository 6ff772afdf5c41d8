/**
 * The benchmark's result as a markdown table to paste into the README: a heading with the
 * date, a machine line, one row per tool (median, min, max, ratio of the median to
 * docker's), and the berth/docker ratio against the goal.
 */
import { cpus, availableParallelism, release, totalmem } from 'node:os';
import { formatRatio, formatSeconds, summarize, type Summary } from './stats.js';

/** One tool's outcome: its timings, or why it has none. */
export interface ToolResult {
  readonly id: string;
  readonly label: string;
  readonly times: readonly number[];
  /** Set when the tool could not run or a run failed; no numbers are shown then. */
  readonly failure?: string;
}

/** What the heading and notes say about the run. */
export interface RunInfo {
  readonly date: Date;
  readonly runs: number;
  readonly warmup: number;
  /** e.g. `5 layers, 300.2 MB tar / 201.4 MB gzip`. */
  readonly imageLine: string;
  /** e.g. `ext4 (/dev/vda)`: where the stores are written. */
  readonly storeFs: string;
  readonly command: string;
}

/** Berth at most this fraction of docker's median: the goal. */
export const goalRatio = 0.5;

/** `2 CPUs (model), 23.5 GiB RAM, Linux 6.1.0`. */
export function machineLine(): string {
  const model = cpus()[0]?.model.trim() ?? 'unknown CPU';
  const gib = (totalmem() / 2 ** 30).toFixed(1);
  return `${availableParallelism()} CPUs (${model}), ${gib} GiB RAM, Linux ${release()}`;
}

/** The whole report, markdown. */
export function formatReport(results: readonly ToolResult[], info: RunInfo): string {
  const docker = summaryOf(results.find((r) => r.id === 'docker'));
  const lines = [
    `### Pull benchmark, ${info.date.toISOString().slice(0, 16).replace('T', ' ')} UTC`,
    '',
    `Machine: ${machineLine()}; stores on ${info.storeFs}.`,
    `Image: ${info.imageLine}, from docker-registry 2.8 on 127.0.0.1 (warm).`,
    `Each tool pulls into an empty store, ${info.runs} timed runs after ${info.warmup} warm-up, ` +
      'tools interleaved round-robin; wall time of the whole command.',
    '',
    '| tool | median | min | max | median ÷ docker |',
    '|---|---:|---:|---:|---:|',
  ];
  for (const r of results) {
    const s = summaryOf(r);
    if (s === undefined) {
      lines.push(`| ${escapeCell(r.label)} | n/a: ${escapeCell(r.failure ?? 'no runs')} | | | |`);
      continue;
    }
    const ratio = docker === undefined ? 'n/a' : formatRatio(s.median / docker.median);
    lines.push(`| ${escapeCell(r.label)} | ${formatSeconds(s.median)} | ${formatSeconds(s.min)} | ${formatSeconds(s.max)} | ${ratio} |`);
  }
  lines.push('', goalLine(summaryOf(results.find((r) => r.id === 'berth')), docker), '', `Command: \`${info.command}\``);
  return `${lines.join('\n')}\n`;
}

function goalLine(berth: Summary | undefined, docker: Summary | undefined): string {
  if (berth === undefined || docker === undefined) {
    return `berth ÷ docker: n/a (${berth === undefined ? 'berth' : 'docker'} has no timings); goal ≤ ${goalRatio}.`;
  }
  const ratio = berth.median / docker.median;
  return `berth ÷ docker: **${ratio.toFixed(2)}** (goal ≤ ${goalRatio}: ${ratio <= goalRatio ? 'met' : 'not met'}).`;
}

function summaryOf(r: ToolResult | undefined): Summary | undefined {
  if (r === undefined || r.failure !== undefined || r.times.length === 0) return undefined;
  return summarize(r.times);
}

/** Keeps a message on one table row. */
function escapeCell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\s+/g, ' ').slice(0, 300);
}
