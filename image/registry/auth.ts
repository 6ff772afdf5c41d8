/**
 * Registry authentication as docker does it (distribution registry/client/auth,
 * docs "Token Authentication Specification"): a request that gets 401 learns the
 * registry's challenge; for Bearer, a token for the request's scope is fetched from the
 * realm (with the user's credentials as Basic auth when there are some, anonymously
 * otherwise) and the request is retried once; for Basic, the credentials are sent.
 * Tokens are cached per registry and scope until `expires_in` runs out.
 */
import { InterruptedError, RegistryError } from '../../common/errors.js';
import { parseChallenges } from './challenge.js';
import type { RegistryEndpoints } from './endpoints.js';
import { readLimited, send, type RequestContext, type Transport } from './http.js';
import { responseError } from './response-error.js';

/** A user name and password (or access token) for one registry. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** Where the client finds credentials; CredentialStore is one. */
export interface CredentialProvider {
  /** The credentials for a registry domain, or undefined when there are none. */
  get(domain: string): Promise<Credentials | undefined>;
}

/** A source of the current time, injectable for tests. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
}

/** The way a registry asked to be authenticated. */
export type AuthMethod =
  | { readonly kind: 'basic' }
  | { readonly kind: 'bearer'; readonly realm: string; readonly service: string | undefined };

/** A token and how long it lives. */
export interface BearerToken {
  readonly token: string;
  readonly lifetimeMs: number;
}

/** What to ask a token server for. */
export interface TokenRequest {
  readonly method: Extract<AuthMethod, { kind: 'bearer' }>;
  /** `repository:<path>:pull`; undefined to only authenticate. */
  readonly scope: string | undefined;
  /** Sent as Basic auth; undefined for an anonymous token. */
  readonly credentials: Credentials | undefined;
}

/** Everything the token flow needs. */
export interface AuthDeps {
  readonly transport: Transport;
  readonly endpoints: RegistryEndpoints;
}

/** distribution registry/client/auth/session.go: `minimumTokenLifetimeSeconds`, also the default. */
const minimumTokenLifetimeSeconds = 60;
const maxTokenResponse = 1024 * 1024;

/** The method of the first Bearer challenge, else of the first Basic one. */
export function authMethodOf(header: string | readonly string[] | undefined): AuthMethod | undefined {
  const challenges = parseChallenges(header);
  const bearer = challenges.find((c) => c.scheme === 'bearer' && c.params.has('realm'));
  if (bearer !== undefined) {
    return { kind: 'bearer', realm: bearer.params.get('realm') ?? '', service: bearer.params.get('service') };
  }
  return challenges.some((c) => c.scheme === 'basic') ? { kind: 'basic' } : undefined;
}

/** The `Authorization` value for Basic auth. */
export function basicAuthorization(credentials: Credentials): string {
  return `Basic ${Buffer.from(`${credentials.username}:${credentials.password}`, 'utf8').toString('base64')}`;
}

/**
 * Fetches a token from a Bearer realm for `scope` (none: just authenticate, as `docker
 * login` does). Credentials go to the realm only over HTTPS or to a loopback or listed
 * insecure host.
 *
 * @throws RegistryError when the token server refuses or answers nonsense.
 */
export async function fetchToken(deps: AuthDeps, request: TokenRequest, context: RequestContext): Promise<BearerToken> {
  const url = realmUrl(request, context);
  const headers: Record<string, string> = { accept: 'application/json' };
  if (request.credentials !== undefined) {
    if (!deps.endpoints.canSendCredentials(url)) {
      const what = `the token server "${url.origin}" of registry "${context.domain}"`;
      throw new RegistryError(`${context.operation}: ${what} uses plain HTTP`, {
        hint: `berth sends credentials only over HTTPS; if you trust the network, add "${url.host}" to the insecure registries`,
      });
    }
    headers['authorization'] = basicAuthorization(request.credentials);
  }
  const response = await send(deps.transport, { url, headers, trustedOrigin: url.origin }, context);
  if (response.status !== 200) {
    throw await responseError(response, context, request.credentials === undefined ? {} : {
      unauthorized: `Check the user name and password for "${context.domain}" `
        + `and log in again with "berth login ${context.domain}"`,
    });
  }
  const bytes = await readLimited(response, maxTokenResponse, context);
  const invalid = (why: string, cause?: unknown): RegistryError => new RegistryError(
    `${context.operation}: the token server "${url.host}" answered ${why}`,
    { cause, hint: `The registry "${context.domain}" is misbehaving; try again later or report it to its operator` },
  );
  if (bytes === undefined) throw invalid(`with more than ${maxTokenResponse} bytes`);
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid('with something that is not JSON', err);
  }
  const token = parseTokenResponse(document);
  if (token === undefined) throw invalid('without a token');
  return token;
}

function realmUrl(request: TokenRequest, context: RequestContext): URL {
  const { method } = request;
  let url: URL;
  try {
    url = new URL(method.realm);
  } catch (err) {
    throw new RegistryError(`${context.operation}: the registry's token realm "${method.realm}" is not a URL`, { cause: err });
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new RegistryError(`${context.operation}: the registry's token realm "${method.realm}" is not an http or https URL`);
  }
  if (method.service !== undefined) url.searchParams.set('service', method.service);
  if (request.scope !== undefined) url.searchParams.append('scope', request.scope);
  if (request.credentials !== undefined) url.searchParams.set('account', request.credentials.username);
  return url;
}

/** Parses a token response: `token` or `access_token`, and `expires_in` seconds. */
export function parseTokenResponse(document: unknown): BearerToken | undefined {
  if (typeof document !== 'object' || document === null) return undefined;
  const fields = document as Record<string, unknown>;
  const token = [fields['token'], fields['access_token']].find((v): v is string => typeof v === 'string' && v !== '');
  if (token === undefined) return undefined;
  const expiresIn = fields['expires_in'];
  const seconds = typeof expiresIn === 'number' && Number.isFinite(expiresIn) ? expiresIn : minimumTokenLifetimeSeconds;
  return { token, lifetimeMs: Math.max(seconds, minimumTokenLifetimeSeconds) * 1000 };
}

/** Resolves like `promise`, or rejects with InterruptedError as soon as `context.signal` aborts. */
export function abortable<T>(promise: Promise<T>, context: RequestContext): Promise<T> {
  const { signal, operation } = context;
  if (signal === undefined) return promise;
  if (signal.aborted) return Promise.reject(new InterruptedError(`${operation}: interrupted`, { cause: signal.reason }));
  return new Promise<T>((resolve, reject) => {
    const onAbort = (): void => reject(new InterruptedError(`${operation}: interrupted`, { cause: signal.reason }));
    signal.addEventListener('abort', onAbort, { once: true });
    void promise.then(
      (value) => { signal.removeEventListener('abort', onAbort); resolve(value); },
      (err: unknown) => { signal.removeEventListener('abort', onAbort); reject(err); },
    );
  });
}
