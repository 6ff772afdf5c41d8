/**
 * The per-client authentication state: what each registry asked for (learnt from its first
 * 401) and the Bearer tokens fetched, per registry and scope, until they expire. One
 * instance lives as long as its RegistryClient; nothing is shared between clients.
 */
import type { RequestContext } from './http.js';
import {
  abortable, authMethodOf, basicAuthorization, fetchToken,
  type AuthDeps, type AuthMethod, type Clock, type CredentialProvider,
} from './auth.js';

/** Dependencies of an {@link Authenticator}. */
export interface AuthenticatorDeps extends AuthDeps {
  readonly credentials: CredentialProvider;
  readonly clock: Clock;
}

interface CachedToken {
  readonly promise: Promise<string>;
  /** Infinity while the token is being fetched. */
  expiresAt: number;
}

/** Produces Authorization headers for registry requests and reacts to 401 challenges. */
export class Authenticator {
  readonly #deps: AuthenticatorDeps;
  readonly #methods = new Map<string, AuthMethod>();
  readonly #tokens = new Map<string, CachedToken>();

  constructor(deps: AuthenticatorDeps) {
    this.#deps = deps;
  }

  /**
   * The Authorization header to send with a request to `context.domain` for `scope`, from
   * what the registry asked before; undefined when it never asked (or there is nothing to
   * send). May fetch a token.
   */
  async authorization(scope: string | undefined, context: RequestContext): Promise<string | undefined> {
    const method = this.#methods.get(context.domain);
    if (method === undefined) return undefined;
    return this.#authorize({ method, scope, fresh: false }, context);
  }

  /**
   * Learns the challenge of a 401 answer and returns the Authorization header to retry
   * with (a fresh token for Bearer), or undefined when a retry cannot succeed.
   */
  async challenged(
    challenge: { scope: string | undefined; header: string | readonly string[] | undefined }, context: RequestContext,
  ): Promise<string | undefined> {
    const method = authMethodOf(challenge.header);
    if (method === undefined) return undefined;
    this.#methods.set(context.domain, method);
    return this.#authorize({ method, scope: challenge.scope, fresh: true }, context);
  }

  async #authorize(
    { method, scope, fresh }: { method: AuthMethod; scope: string | undefined; fresh: boolean }, context: RequestContext,
  ): Promise<string | undefined> {
    if (method.kind === 'basic') {
      const credentials = await this.#deps.credentials.get(context.domain);
      const base = this.#deps.endpoints.baseUrl(context.domain);
      if (credentials === undefined || !this.#deps.endpoints.canSendCredentials(base)) return undefined;
      return basicAuthorization(credentials);
    }
    const key = `${context.domain}\n${scope ?? ''}`;
    const cached = this.#tokens.get(key);
    if (!fresh && cached !== undefined && cached.expiresAt > this.#deps.clock.now()) {
      return `Bearer ${await abortable(cached.promise, context)}`;
    }
    const entry = this.#fetchShared(key, { method, scope }, context);
    return `Bearer ${await abortable(entry.promise, context)}`;
  }

  /**
   * Starts a token fetch that concurrent requests share: it runs to completion without any
   * one request's signal, and each request waits for it under its own signal.
   */
  #fetchShared(
    key: string, request: { method: Extract<AuthMethod, { kind: 'bearer' }>; scope: string | undefined }, context: RequestContext,
  ): CachedToken {
    const shared: RequestContext = { operation: context.operation, domain: context.domain };
    const fetch = async (): Promise<string> => {
      const credentials = await this.#deps.credentials.get(context.domain);
      const token = await fetchToken(this.#deps, { ...request, credentials }, shared);
      entry.expiresAt = this.#deps.clock.now() + token.lifetimeMs;
      return token.token;
    };
    const entry: CachedToken = { promise: fetch(), expiresAt: Number.POSITIVE_INFINITY };
    this.#tokens.set(key, entry);
    void entry.promise.catch(() => {
      if (this.#tokens.get(key) === entry) this.#tokens.delete(key);
    });
    return entry;
  }
}
