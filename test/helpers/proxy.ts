/**
 * A hostile registry for tests: an HTTP proxy on 127.0.0.1 in front of a real registry
 * that passes everything through except what a rule takes over — a manifest swapped for
 * a crafted one, a blob corrupted, truncated, lengthened or slowed down. berth must meet
 * each with a clear error and an unchanged store.
 */
import { createServer, request, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What a rule does with a request it matches. */
export type RuleAction =
  /** Answer with this instead of asking the registry. */
  | { readonly kind: 'respond'; readonly status: number; readonly headers?: Record<string, string>; readonly body: Buffer | string }
  /** Ask the registry, then change the body bytes (headers pass, Content-Length adjusted unless `keepLength`). */
  | { readonly kind: 'rewrite'; readonly change: (body: Buffer) => Buffer; readonly keepLength?: boolean }
  /** Ask the registry and pass the body at most `bytesPerSecond`. */
  | { readonly kind: 'throttle'; readonly bytesPerSecond: number };

/** A rule: requests whose method and path match get the action. */
export interface ProxyRule {
  readonly method?: string;
  readonly path: RegExp;
  readonly action: RuleAction;
}

/** A running proxy; `stop()` closes it and every connection. */
export interface HostileProxy {
  /** `127.0.0.1:PORT`. */
  readonly host: string;
  /** Rules, checked in order; tests may replace them between requests. */
  rules: ProxyRule[];
  /** Paths requested so far, e.g. `GET /v2/x/manifests/latest`. */
  readonly seen: string[];
  stop(): Promise<void>;
}

/** Starts a proxy in front of the registry at `upstream` (`127.0.0.1:PORT`). */
export async function startHostileProxy(upstream: string, rules: ProxyRule[] = []): Promise<HostileProxy> {
  const [upHost, upPort] = upstream.split(':');
  const state = { rules, seen: [] as string[] };
  const server: Server = createServer((req, res) => {
    state.seen.push(`${req.method ?? ''} ${req.url ?? ''}`);
    const rule = state.rules.find((r) => (r.method ?? 'GET') === req.method && r.path.test(req.url ?? ''));
    if (rule?.action.kind === 'respond') {
      req.resume();
      res.writeHead(rule.action.status, rule.action.headers ?? {});
      res.end(rule.action.body);
      return;
    }
    const upstreamReq = request(
      { host: upHost, port: Number(upPort), method: req.method, path: req.url, headers: { ...req.headers, host: upstream } },
      (upstreamRes) => relay(upstreamRes, res, rule?.action),
    );
    upstreamReq.on('error', () => res.destroy());
    req.pipe(upstreamReq);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    host: `127.0.0.1:${port}`,
    get rules() {
      return state.rules;
    },
    set rules(next: ProxyRule[]) {
      state.rules = next;
    },
    seen: state.seen,
    stop: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function relay(from: IncomingMessage, to: ServerResponse, action: RuleAction | undefined): void {
  const headers = { ...from.headers };
  if (action?.kind === 'rewrite') {
    const chunks: Buffer[] = [];
    from.on('data', (c: Buffer) => chunks.push(c));
    from.on('end', () => {
      const body = action.change(Buffer.concat(chunks));
      if (action.keepLength !== true) headers['content-length'] = String(body.length);
      to.writeHead(from.statusCode ?? 502, headers);
      // With keepLength and a shorter body, ending early is what a truncated transfer looks like.
      if (action.keepLength === true) to.write(body, () => to.destroy());
      else to.end(body);
    });
    return;
  }
  to.writeHead(from.statusCode ?? 502, headers);
  if (action?.kind === 'throttle') {
    const delayPerChunk = (chunk: Buffer): number => (chunk.length / action.bytesPerSecond) * 1000;
    from.on('data', (chunk: Buffer) => {
      from.pause();
      to.write(chunk);
      setTimeout(() => from.resume(), delayPerChunk(chunk));
    });
    from.on('end', () => to.end());
    to.on('close', () => from.destroy());
    return;
  }
  from.pipe(to);
}
