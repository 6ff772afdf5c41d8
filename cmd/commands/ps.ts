/**
 * `berth ps` (also `container ls`): docker's columns, -a -q -l -n -s --no-trunc, and
 * --format table|json|'{{.Field}}'. Which containers, the filters and the status words are
 * runtime/ps.ts's.
 */
import { formatPortsColumn } from '../../network/index.js';
import type { Command } from 'commander';
import { UsageError } from '../../common/errors.js';
import { containerSummary, psFilters, selectContainers, since, type ContainerEngine } from '../../runtime/index.js';
import { humanSize, table } from '../format.js';
import { withContext } from '../run.js';
import { collect } from '../options.js';

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

function commandText(command: string, trunc: boolean): string {
  const shown = trunc && command.length > 20 ? `${command.slice(0, 19)}…` : command;
  return `"${shown}"`;
}

/** The listing as text. */
export async function listContainers(engine: ContainerEngine, flags: PsFlags, imageIdOf: (ref: string) => string | undefined): Promise<string> {
  const filters = psFilters(flags.filter);
  let limit: number | undefined;
  if (flags.last !== undefined) {
    limit = Number(flags.last);
    if (!Number.isInteger(limit)) throw new UsageError(`Invalid --last "${flags.last}"`);
  }
  if (flags.latest === true) limit = 1;
  const views = selectContainers(engine, { all: flags.all, limit, filters }, imageIdOf);
  const trunc = flags.trunc;
  if (flags.quiet === true) return views.map((v) => `${trunc ? v.record.id.slice(0, 12) : v.record.id}\n`).join('');
  const now = Date.now();
  const rows: PsRow[] = [];
  for (const v of views) {
    const r = v.record;
    const c = await containerSummary(engine, v, { size: flags.size, now });
    rows.push({
      Command: commandText(c.command, trunc), CreatedAt: r.created, ID: trunc ? r.id.slice(0, 12) : r.id, Image: r.imageName,
      Labels: Object.entries(r.config.labels).map(([k, val]) => `${k}=${val}`).join(','), LocalVolumes: '0', Mounts: '',
      Names: r.name, Networks: c.networks.join(','), Ports: formatPortsColumn(c.ports, c.exposed), RunningFor: since(r.created, now),
      Size: c.sizeRw === undefined ? '' : `${humanSize(c.sizeRw)}`, State: v.status, Status: c.status,
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
