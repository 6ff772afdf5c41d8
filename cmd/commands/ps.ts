/**
 * `berth ps` (also `container ls`): docker's columns, status words, filters (status, name,
 * label, ancestor, id), -a -q -l -n -s --no-trunc, and --format table|json|'{{.Field}}'.
 */
import { formatPortsColumn, type Protocol } from '../../network/index.js';
import type { Command } from 'commander';
import { join } from 'node:path';
import { UsageError } from '../../common/errors.js';
import { treeSize } from '../../common/fs.js';
import type { ContainerEngine, ContainerView } from '../../runtime/index.js';
import { humanDuration, humanSize, since, table } from '../format.js';
import { withContext } from '../run.js';
import { collect } from '../options.js';
import { parseFilters } from '../../common/filters.js';

interface PsFlags {
  readonly all?: boolean;
  readonly quiet?: boolean;
  readonly latest?: boolean;
  readonly last?: string;
  readonly size?: boolean;
  readonly trunc: boolean;
  readonly filter: string[];
  readonly format?: string;
}

/** One row, with docker's field names for --format. */
export interface PsRow {
  readonly Command: string;
  readonly CreatedAt: string;
  readonly ID: string;
  readonly Image: string;
  readonly Labels: string;
  readonly LocalVolumes: string;
  readonly Mounts: string;
  readonly Names: string;
  readonly Networks: string;
  readonly Ports: string;
  readonly RunningFor: string;
  readonly Size: string;
  readonly State: string;
  readonly Status: string;
}


export function registerPs(program: Command, name = 'ps'): void {
  program.command(name).description('List containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('-l, --latest', 'show the latest created container')
    .option('-n, --last <n>', 'show n last created containers')
    .option('-s, --size', 'display total file sizes')
    .option('--no-trunc', 'do not truncate output')
    .option('-f, --filter <filter>', 'filter output (status=, name=, label=, ancestor=, id=)', collect, [])
    .option('--format <format>', 'output format: table (default), json, or a {{.Field}} template')
    .action(withContext(async (ctx, flags: PsFlags) => {
      const engine = ctx.engine();
      process.stdout.write(await listContainers(engine, flags, (ref) => {
        try {
          return ctx.images().find(ref).id;
        } catch {
          return undefined;
        }
      }));
    }));
}

/** docker's status words: "Up 2 minutes", "Exited (0) 3 seconds ago", "Created". */
export function statusText(view: ContainerView, now = Date.now()): string {
  switch (view.status) {
    case 'running':
      return `Up ${humanDuration(now - Date.parse(view.record.startedAt))}`;
    case 'paused':
      return `Up ${humanDuration(now - Date.parse(view.record.startedAt))} (Paused)`;
    case 'exited':
      return `Exited (${view.exitCode}) ${view.finishedAt === '' ? 'N/A' : since(view.finishedAt, now)}`;
    case 'created':
      return 'Created';
    case 'removing':
      return 'Removal In Progress';
    default:
      return view.status;
  }
}

function commandText(view: ContainerView, trunc: boolean): string {
  const { path, args } = view.record.config;
  const full = [path, ...args].join(' ');
  const shown = trunc && full.length > 20 ? `${full.slice(0, 19)}…` : full;
  return `"${shown}"`;
}

function psFilters(filters: readonly string[]): Map<string, string[]> {
  const out = parseFilters(filters, ['status', 'name', 'label', 'ancestor', 'id']);
  const statuses = out.get('status') ?? [];
  for (const s of statuses) {
    if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(s)) {
      throw new UsageError(`Invalid filter 'status=${s}'`, { hint: 'Use created, restarting, running, removing, paused, exited or dead' });
    }
  }
  return out;
}

function matches(view: ContainerView, filters: Map<string, string[]>, imageIdOf: (ref: string) => string | undefined): boolean {
  const any = (key: string, test: (v: string) => boolean): boolean => {
    const values = filters.get(key);
    return values === undefined || values.some(test);
  };
  const { record } = view;
  return any('status', (s) => s === view.status)
    && any('name', (n) => new RegExp(n).test(record.name))
    && any('id', (p) => record.id.startsWith(p))
    && any('label', (l) => {
      const eq = l.indexOf('=');
      return eq < 0 ? l in record.config.labels : record.config.labels[l.slice(0, eq)] === l.slice(eq + 1);
    })
    && any('ancestor', (a) => record.imageName === a || record.imageId === imageIdOf(a) || record.imageId.replace('sha256:', '').startsWith(a.replace('sha256:', '')));
}

/** The listing as text. */
export async function listContainers(engine: ContainerEngine, flags: PsFlags, imageIdOf: (ref: string) => string | undefined): Promise<string> {
  const filters = psFilters(flags.filter);
  let views = engine.list();
  let limit: number | undefined;
  if (flags.last !== undefined) {
    limit = Number(flags.last);
    if (!Number.isInteger(limit)) throw new UsageError(`Invalid --last "${flags.last}"`);
  }
  if (flags.latest === true) limit = 1;
  const all = flags.all === true || (limit !== undefined && limit >= 0) || filters.has('status');
  views = views.filter((v) => (all || v.status === 'running' || v.status === 'paused') && matches(v, filters, imageIdOf));
  if (limit !== undefined && limit >= 0) views = views.slice(0, limit);
  const trunc = flags.trunc;
  if (flags.quiet === true) return views.map((v) => `${trunc ? v.record.id.slice(0, 12) : v.record.id}\n`).join('');
  const now = Date.now();
  const rows: PsRow[] = [];
  for (const v of views) {
    const r = v.record;
    const size = flags.size === true ? `${humanSize(await treeSize(join(engine.dir(r.id), 'upper')))}` : '';
    const net = await engine.networkSettings(r);
    const published = net.ports.map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol as Protocol }));
    const networks = net.attachments.length > 0 ? net.attachments.map((a) => a.network.name).join(',') : r.config.networkMode;
    rows.push({
      Command: commandText(v, trunc), CreatedAt: r.created, ID: trunc ? r.id.slice(0, 12) : r.id, Image: r.imageName,
      Labels: Object.entries(r.config.labels).map(([k, val]) => `${k}=${val}`).join(','), LocalVolumes: '0', Mounts: '',
      Names: r.name, Networks: networks, Ports: formatPortsColumn(published, v.running ? r.config.net?.exposedPorts ?? [] : []), RunningFor: since(r.created, now), Size: size,
      State: v.status, Status: statusText(v, now),
    });
  }
  const format = flags.format ?? 'table';
  if (format === 'json') return rows.map((row) => `${JSON.stringify(row)}\n`).join('');
  if (format === 'table') {
    const headers = ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'PORTS', 'NAMES', ...(flags.size === true ? ['SIZE'] : [])];
    return table(headers, rows.map((row) => [row.ID, row.Image, row.Command, row.RunningFor, row.Status, row.Ports, row.Names, ...(flags.size === true ? [row.Size] : [])]));
  }
  return rows.map((row) => `${applyTemplate(format.replace(/^table\s+/, ''), row)}\n`).join('');
}

/** A small subset of Go templates: {{.Field}}, {{.A.B}} and {{json .Field}}. */
export function applyTemplate(template: string, row: object): string {
  return template.replace(/\{\{\s*(json\s+)?\.([\w.]+)\s*\}\}/g, (_m, json: string | undefined, path: string) => {
    let v: unknown = row;
    for (const field of path.split('.')) {
      if (v === null || typeof v !== 'object' || !(field in v)) throw new UsageError(`Template parsing error: can't evaluate field ${field}`);
      v = (v as Record<string, unknown>)[field];
    }
    if (json !== undefined) return JSON.stringify(v);
    if (v === null || v === undefined) return '<no value>';
    if (Array.isArray(v)) return `[${v.map(String).join(' ')}]`;
    if (typeof v === 'object') return `map[${Object.entries(v as Record<string, unknown>).map(([k, x]) => `${k}:${String(x)}`).join(' ')}]`;
    return String(v);
  }).replace(/\\t/g, '\t').replace(/\\n/g, '\n');
}
