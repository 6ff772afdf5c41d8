/**
 * docker's container listing (`docker ps`, the API's GET /containers/json): the filters
 * (status, name, label, ancestor, id), which containers are shown, the status words, and
 * what each row is made of. Formatting the rows (truncation, sizes, the PORTS column) is
 * the front end's.
 */
import { UsageError } from '../common/errors.js';
import { parseFilters } from '../common/filters.js';
import { treeSize } from '../common/fs.js';
import type { PortBinding, Protocol } from '../network/index.js';
import { humanDuration, since } from './durations.js';
import type { ContainerEngine, ContainerView } from './engine.js';

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

/** `--filter key=value` of ps (the API's filters as key=value texts), checked: status names one of docker's states. */
export function psFilters(filters: readonly string[]): Map<string, string[]> {
  const out = parseFilters(filters, ['status', 'name', 'label', 'ancestor', 'id']);
  const statuses = out.get('status') ?? [];
  for (const s of statuses) {
    if (!['created', 'restarting', 'running', 'removing', 'paused', 'exited', 'dead'].includes(s)) {
      throw new UsageError(`Invalid filter 'status=${s}'`, { hint: 'Use created, restarting, running, removing, paused, exited or dead' });
    }
  }
  return out;
}

function matches(view: ContainerView, filters: ReadonlyMap<string, readonly string[]>, imageIdOf: (ref: string) => string | undefined): boolean {
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

/** Which containers a listing shows (docker ps -a, -n/--last, -l, --filter; the API's all, limit, filters). */
export interface ContainerQuery {
  /** Stopped ones too (else the running and paused ones only). */
  readonly all?: boolean | undefined;
  /** The newest `limit` (all, stopped ones included); a negative one is no limit. */
  readonly limit?: number | undefined;
  /** From {@link psFilters}. */
  readonly filters: ReadonlyMap<string, readonly string[]>;
}

/**
 * The containers a listing shows, newest first. `imageIdOf` resolves an ancestor filter's
 * image reference to an image id (undefined when there is no such image).
 */
export function selectContainers(engine: ContainerEngine, query: ContainerQuery, imageIdOf: (ref: string) => string | undefined): ContainerView[] {
  const { filters, limit } = query;
  const all = query.all === true || (limit !== undefined && limit >= 0) || filters.has('status');
  const views = engine.list().filter((v) => (all || v.status === 'running' || v.status === 'paused') && matches(v, filters, imageIdOf));
  return limit !== undefined && limit >= 0 ? views.slice(0, limit) : views;
}

/** What a listing shows of one container, before formatting. */
export interface ContainerSummary {
  readonly view: ContainerView;
  /** The process and its arguments, joined by spaces (docker's Command). */
  readonly command: string;
  /** The networks it is attached to, or its network mode when none (host, none, container:…). */
  readonly networks: readonly string[];
  /** Its published ports. */
  readonly ports: readonly PortBinding[];
  /** The ports it exposes, while it runs (docker lists exposed ports of running containers only). */
  readonly exposed: readonly string[];
  /** Bytes in its writable layer, when asked for (ps -s, the API's size). */
  readonly sizeRw: number | undefined;
  /** {@link statusText}. */
  readonly status: string;
}

/** One container's {@link ContainerSummary}; `size` walks its writable layer. */
export async function containerSummary(engine: ContainerEngine, view: ContainerView, options: { readonly size?: boolean | undefined; readonly now?: number | undefined } = {}): Promise<ContainerSummary> {
  const r = view.record;
  const sizeRw = options.size === true ? await treeSize(engine.rootfsDirs(r.id).upper) : undefined;
  const net = await engine.networkSettings(r);
  const ports = net.ports.map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol as Protocol }));
  const networks = net.attachments.length > 0 ? net.attachments.map((a) => a.network.name) : [r.config.networkMode];
  return {
    view, command: [r.config.path, ...r.config.args].join(' '), networks, ports, exposed: view.running ? r.config.net?.exposedPorts ?? [] : [], sizeRw,
    status: statusText(view, options.now),
  };
}
