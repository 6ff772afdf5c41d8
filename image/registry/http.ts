/**
 * The HTTP layer of the registry client: one GET with redirects followed by hand, so that
 * the Authorization header never leaves the registry's origin (blob storage is often a
 * CDN on another host), a bounded body reader, and network failures as RegistryError.
 * Every response handed out still owns its body: the caller consumes or destroys it.
 */
import { rootCertificates } from 'node:tls';
import type { Dispatcher } from 'undici';
import { InterruptedError, RegistryError, isErrnoError } from '../../common/errors.js';

/**
 * A dispatcher that trusts `extraCaPem` (PEM certificates) besides Node's bundled roots:
 * what NODE_EXTRA_CA_CERTS gives every TLS connection when Node loads it itself, which
 * berth's launcher (bin/launcher.c) spares Node's start-up.
 */
export async function dispatcherTrusting(extraCaPem: string): Promise<Dispatcher> {
  const { Agent } = await loadUndici();
  return new Agent({ connect: { ca: [...rootCertificates, extraCaPem] } });
}

/** What a request is part of: error messages start with `operation`. */
export interface RequestContext {
  /** What was being done, e.g. `Cannot pull "busybox:latest"`. */
  readonly operation: string;
  /** The registry domain, for messages and hints. */
  readonly domain: string;
  readonly signal?: AbortSignal | undefined;
}

/** The shared HTTP settings of one client. */
export interface Transport {
  /** undici's global dispatcher when undefined. */
  readonly dispatcher: Dispatcher | undefined;
  readonly userAgent: string;
}

/** An undici response body: a Readable with `dump()`. */
export type ResponseBody = Dispatcher.ResponseData['body'];

/** A response whose body the receiver must consume or destroy. */
export interface HttpResponse {
  readonly status: number;
  readonly headers: Readonly<Record<string, string | string[] | undefined>>;
  readonly body: ResponseBody;
  /** The URL that answered, after redirects. */
  readonly url: URL;
}

/** One request. */
export interface SendInit {
  readonly url: URL;
  readonly method?: 'GET' | 'HEAD';
  readonly headers?: Readonly<Record<string, string>>;
  /** The only origin that may receive the Authorization header. */
  readonly trustedOrigin: string;
}

/** Go's net/http follows at most 10 redirects; so does berth. */
const maxRedirects = 10;
const redirectStatuses: ReadonlySet<number> = new Set([301, 302, 303, 307, 308]);

/** The first value of a response header. */
export function headerValue(headers: HttpResponse['headers'], name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/**
 * Sends a request and follows redirects. Authorization goes only to `trustedOrigin` and is
 * dropped for good once a redirect leaves it (what Go's http.Client does for docker).
 *
 * @throws RegistryError when the host cannot be reached or redirects loop.
 * @throws InterruptedError when `context.signal` aborts.
 */
export async function send(transport: Transport, init: SendInit, context: RequestContext): Promise<HttpResponse> {
  let current = init.url;
  let method = init.method ?? 'GET';
  let mayAuthorize = true;
  for (let hop = 0; ; hop++) {
    mayAuthorize &&= current.origin === init.trustedOrigin;
    const headers: Record<string, string> = { 'user-agent': transport.userAgent };
    for (const [name, value] of Object.entries(init.headers ?? {})) {
      if (mayAuthorize || name.toLowerCase() !== 'authorization') headers[name.toLowerCase()] = value;
    }
    const response = await requestOnce(transport, current, { method, headers, foreign: !mayAuthorize }, context);
    const location = headerValue(response.headers, 'location');
    if (!redirectStatuses.has(response.statusCode) || location === undefined) {
      return { status: response.statusCode, headers: response.headers, body: response.body, url: current };
    }
    await discard(response.body);
    if (hop >= maxRedirects) {
      throw new RegistryError(`${context.operation}: more than ${maxRedirects} redirects, the last to "${location}"`, {
        status: response.statusCode,
        hint: `The registry "${context.domain}" is misconfigured; report it to its operator`,
      });
    }
    current = resolveLocation(location, current, context);
    if (response.statusCode === 303) method = 'GET';
  }
}

interface Hop {
  readonly method: 'GET' | 'HEAD';
  readonly headers: Record<string, string>;
  /** True once a redirect left the registry's origin. */
  readonly foreign: boolean;
}

async function requestOnce(transport: Transport, url: URL, hop: Hop, context: RequestContext): Promise<Dispatcher.ResponseData> {
  const { request } = await loadUndici();
  try {
    return await request(url, {
      ...(transport.dispatcher === undefined ? {} : { dispatcher: transport.dispatcher }),
      method: hop.method,
      headers: hop.headers,
      ...(context.signal === undefined ? {} : { signal: context.signal }),
    });
  } catch (err) {
    throw networkError(err, url, context, hop.foreign);
  }
}

/**
 * undici, loaded on the first request only: it is a megabyte of JavaScript, and commands
 * that never reach a registry start faster without it (the module cache keeps it after).
 */
async function loadUndici(): Promise<typeof import('undici')> {
  const mod: typeof import('undici') & { default?: typeof import('undici') } = await import('undici');
  // From source it is a namespace with named exports; bundled by esbuild, the CommonJS
  // package arrives as the default export only.
  if (typeof mod.request === 'function' || mod.default === undefined) return mod;
  return mod.default;
}

function resolveLocation(location: string, base: URL, context: RequestContext): URL {
  let next: URL;
  try {
    next = new URL(location, base);
  } catch (err) {
    throw new RegistryError(`${context.operation}: the registry redirected to "${location}", which is not a URL`, { cause: err });
  }
  if (next.protocol !== 'http:' && next.protocol !== 'https:') {
    throw new RegistryError(`${context.operation}: the registry redirected to "${location}", which is not an http or https URL`);
  }
  return next;
}

/**
 * Reads a whole body of at most `limit` bytes. Returns undefined, with the body destroyed,
 * as soon as it grows past the limit: no more than `limit` bytes are ever held.
 *
 * @throws RegistryError when the connection fails mid-body; InterruptedError on abort.
 */
export async function readLimited(response: HttpResponse, limit: number, context: RequestContext): Promise<Buffer | undefined> {
  const { body, url } = response;
  const chunks: Buffer[] = [];
  const iterable: AsyncIterable<unknown> = body;
  let total = 0;
  try {
    for await (const chunk of iterable) {
      const bytes = Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
      total += bytes.length;
      if (total > limit) {
        cancel(body);
        return undefined;
      }
      chunks.push(bytes);
    }
  } catch (err) {
    cancel(body);
    throw bodyError(err, url, context);
  }
  return Buffer.concat(chunks, total);
}

/**
 * Abandons a body. undici reports a destroyed, unfinished body as an "error" event
 * (RequestAbortedError), which would be uncaught without a listener.
 */
export function cancel(body: ResponseBody): void {
  body.on('error', ignore);
  body.destroy();
}

function ignore(): void {
  // The body was abandoned on purpose; its abort error means nothing.
}

/** Consumes and drops a body (keeping the connection reusable), or destroys it when large. */
export async function discard(body: ResponseBody): Promise<void> {
  try {
    // undici BodyReadable.dump reads up to 128 KiB, then destroys the stream.
    await body.dump();
  } catch {
    // Nothing depends on this body: its failure is not the caller's failure.
    cancel(body);
  }
}

const tlsCodes = /^(ERR_SSL|ERR_TLS|CERT_|UNABLE_TO|DEPTH_ZERO|SELF_SIGNED|EPROTO$)/;

/**
 * A thrown request error as RegistryError (or InterruptedError when aborted). `foreign`
 * says the host is not the registry but where it redirected to (blob storage).
 */
function networkError(err: unknown, url: URL, context: RequestContext, foreign: boolean): RegistryError | InterruptedError {
  if (context.signal?.aborted === true || (err instanceof Error && err.name === 'AbortError')) {
    return new InterruptedError(`${context.operation}: interrupted`, { cause: err });
  }
  const { code, detail } = describeError(err);
  const tls = tlsCodes.test(code) || /ssl|tls|certificate/i.test(detail);
  const hint = tls
    ? `If "${url.host}" serves plain HTTP or a self-signed certificate, add it to the insecure registries`
    : `Check the registry address and your network; a registry that serves plain HTTP must be listed in the insecure registries`;
  const message = foreign
    ? `${context.operation}: cannot reach "${url.host}", where registry "${context.domain}" redirected: ${detail}`
    : `Cannot reach registry "${url.host}": ${detail}`;
  return new RegistryError(message, { cause: err, hint });
}

/** An error while a response body streams in, as RegistryError (or InterruptedError when aborted). */
function bodyError(err: unknown, url: URL, context: RequestContext): RegistryError | InterruptedError {
  if (context.signal?.aborted === true || (err instanceof Error && err.name === 'AbortError')) {
    return new InterruptedError(`${context.operation}: interrupted`, { cause: err });
  }
  return new RegistryError(`${context.operation}: the connection to "${url.host}" failed: ${describeError(err).detail}`, {
    cause: err,
    hint: 'Check your network and try again',
  });
}

function describeError(err: unknown): { code: string; detail: string } {
  const root = firstError(err);
  const code = isErrnoError(root) ? root.code ?? '' : '';
  const detail = root instanceof Error && root.message !== '' ? root.message : code || String(root);
  return { code, detail };
}

/** Node reports failed happy-eyeballs connects as an AggregateError with an empty message. */
function firstError(err: unknown): unknown {
  if (err instanceof AggregateError && err.errors.length > 0) return firstError(err.errors[0]);
  return err;
}
