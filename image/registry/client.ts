/**
 * A client of the OCI distribution API, v2 (distribution-spec spec.md "Pull", "Content
 * Discovery"): manifests, blobs and tags of a repository, and the login check, over undici.
 * Authentication follows docker (see auth.ts); redirects never carry credentials to other
 * hosts (see http.ts).
 */
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { InvalidArgumentError, InvalidContentError, RegistryError } from '../../common/errors.js';
import { isDigest, manifestAccept, type Digest } from '../../oci/index.js';
import { familiarName, isValidPath, isValidTag, type RepositoryName } from '../reference.js';
import { authMethodOf, basicAuthorization, fetchToken, type Clock, type CredentialProvider, type Credentials } from './auth.js';
import { Authenticator } from './authenticator.js';
import { RegistryEndpoints } from './endpoints.js';
import {
  cancel, discard, headerValue, readLimited, send,
  type HttpResponse, type RequestContext, type SendInit, type Transport,
} from './http.js';
import { readManifest, type ManifestResult } from './manifest.js';
import { responseError, type ErrorHints } from './response-error.js';
import { nextLink, parseTagList } from './tags.js';

/** How a {@link RegistryClient} connects and authenticates. */
export interface RegistryClientOptions {
  /** undici dispatcher (an Agent with the caller's timeouts); default: undici's global one. */
  readonly dispatcher?: Dispatcher | undefined;
  /** Where credentials for each registry come from. */
  readonly credentials: CredentialProvider;
  /** docker `insecure-registries`: "host", "host:port" or CIDRs, spoken to over plain HTTP. */
  readonly insecureRegistries?: readonly string[] | undefined;
  /** Base URL per registry domain ("http://127.0.0.1:5000"), replacing the derived one. */
  readonly endpoints?: Readonly<Record<string, string>> | undefined;
  /** User-Agent header; default "berth". */
  readonly userAgent?: string | undefined;
  /** Largest manifest accepted, in bytes; default 4 MiB. */
  readonly maxManifestBytes?: number | undefined;
  /** Time source for token expiry; default Date.now. */
  readonly clock?: Clock | undefined;
}

/** Options every request takes. */
export interface RegistryRequestOptions {
  readonly signal?: AbortSignal | undefined;
}

/** Options of {@link RegistryClient.getBlob}. */
export interface BlobRequestOptions extends RegistryRequestOptions {
  /** Resume from this byte: sends `Range: bytes=<offset>-`. */
  readonly offset?: number | undefined;
}

/** A blob download in progress. The receiver must consume or destroy `body`. */
export interface BlobResult {
  /** The blob's bytes, from `offset` when `resumed`, else from the start; unverified. */
  readonly body: Readable;
  /** Bytes in `body` (Content-Length), when the registry said. */
  readonly size: number | undefined;
  /** True when the registry honoured the requested offset (206 Partial Content). */
  readonly resumed: boolean;
}

/** Options of {@link RegistryClient.listTags}. */
export interface TagListOptions extends RegistryRequestOptions {
  /** Tags per page (`n`); default: the registry's choice. */
  readonly pageSize?: number | undefined;
}

const defaultMaxManifestBytes = 4 * 1024 * 1024;
const maxTagPageBytes = 16 * 1024 * 1024;
const maxTagPages = 10_000;

/**
 * Distribution API client. One instance caches auth challenges and tokens for its lifetime
 * and may serve concurrent requests; it owns no connections (the dispatcher does).
 */
export class RegistryClient {
  readonly #transport: Transport;
  readonly #endpoints: RegistryEndpoints;
  readonly #auth: Authenticator;
  readonly #maxManifestBytes: number;

  /** @throws InvalidArgumentError when an insecure registry, endpoint or size limit is malformed. */
  constructor(options: RegistryClientOptions) {
    this.#transport = { dispatcher: options.dispatcher, userAgent: options.userAgent ?? 'berth' };
    this.#endpoints = new RegistryEndpoints(options);
    this.#auth = new Authenticator({
      transport: this.#transport,
      endpoints: this.#endpoints,
      credentials: options.credentials,
      clock: options.clock ?? { now: () => Date.now() },
    });
    this.#maxManifestBytes = options.maxManifestBytes ?? defaultMaxManifestBytes;
    if (!Number.isSafeInteger(this.#maxManifestBytes) || this.#maxManifestBytes <= 0) {
      throw new InvalidArgumentError(`Invalid manifest size limit "${this.#maxManifestBytes}": it must be a positive integer`);
    }
  }

  /**
   * Fetches a manifest or index by tag or digest. By digest, the bytes are verified.
   *
   * @throws RegistryError when the registry refuses or fails (404: status 404).
   * @throws InvalidContentError when too large or not matching the digest.
   */
  async getManifest(repo: RepositoryName, reference: string, options: RegistryRequestOptions = {}): Promise<ManifestResult> {
    const expected = isDigest(reference) ? reference : undefined;
    if (expected === undefined && !isValidTag(reference)) {
      throw new InvalidArgumentError(`Invalid manifest reference "${reference}": it is neither a tag nor a digest`);
    }
    const shown = `${familiarName(repo)}${expected === undefined ? ':' : '@'}${reference}`;
    const context = this.#context(repo, `Cannot pull "${shown}"`, options);
    const url = this.#url(repo, `manifests/${reference}`);
    const response = await this.#get(url, { accept: manifestAccept.join(', ') }, repo, context);
    return readManifest(response, { expected, maxBytes: this.#maxManifestBytes }, context);
  }

  /**
   * Starts a blob download, following redirects to blob storage without credentials. The
   * caller checks size and digest while streaming.
   *
   * @throws RegistryError when the registry refuses or fails.
   */
  async getBlob(repo: RepositoryName, digest: Digest, options: BlobRequestOptions = {}): Promise<BlobResult> {
    const offset = options.offset ?? 0;
    if (!Number.isSafeInteger(offset) || offset < 0) {
      throw new InvalidArgumentError(`Invalid blob offset "${offset}": it must be a non-negative integer`);
    }
    if (!isDigest(digest)) throw new InvalidArgumentError(`Invalid blob digest "${String(digest)}"`);
    const context = this.#context(repo, `Cannot download blob "${digest}" of "${familiarName(repo)}"`, options);
    const headers: Record<string, string> = offset > 0 ? { range: `bytes=${offset}-` } : {};
    const response = await this.#get(this.#url(repo, `blobs/${digest}`), headers, repo, context);
    const resumed = offset > 0 && response.status === 206;
    if (response.status !== 200 && !resumed) {
      cancel(response.body);
      throw new RegistryError(`${context.operation}: the registry answered ${response.status} instead of the blob`, {
        status: response.status,
        hint: `The registry "${repo.domain}" is misbehaving; try again later`,
      });
    }
    if (resumed) checkContentRange(response, offset, context);
    const length = Number(headerValue(response.headers, 'content-length') ?? Number.NaN);
    return { body: response.body, size: Number.isSafeInteger(length) && length >= 0 ? length : undefined, resumed };
  }

  /**
   * Lists every tag of a repository, following `Link` pagination.
   *
   * @throws RegistryError when the registry refuses or fails.
   * @throws InvalidContentError when a page is not a tag list.
   */
  async listTags(repo: RepositoryName, options: TagListOptions = {}): Promise<string[]> {
    const context = this.#context(repo, `Cannot list the tags of "${familiarName(repo)}"`, options);
    let url: URL | undefined = this.#url(repo, 'tags/list');
    if (options.pageSize !== undefined) url.searchParams.set('n', String(options.pageSize));
    const tags: string[] = [];
    const seen = new Set<string>();
    while (url !== undefined) {
      if (seen.has(url.href) || seen.size >= maxTagPages) {
        throw new RegistryError(`${context.operation}: the registry's pages of tags loop`, {
          hint: `The registry "${repo.domain}" is misbehaving; report it to its operator`,
        });
      }
      seen.add(url.href);
      const response = await this.#get(url, { accept: 'application/json' }, repo, context);
      const bytes = await readLimited(response, maxTagPageBytes, context);
      if (bytes === undefined) {
        throw new InvalidContentError(`${context.operation}: a page of tags is larger than ${maxTagPageBytes} bytes`);
      }
      tags.push(...parseTagList(bytes, context.operation));
      url = nextLink(headerValue(response.headers, 'link'), response.url);
    }
    return tags;
  }

  /**
   * Checks credentials the way `docker login` does: `GET /v2/`, and on 401 the registry's
   * auth flow with these credentials. Resolves when the registry accepts them (or needs none).
   *
   * @throws RegistryError (status 401: "unauthorized: <registry message>") otherwise.
   */
  async checkLogin(domain: string, credentials: Credentials, options: RegistryRequestOptions = {}): Promise<void> {
    const base = this.#endpoints.baseUrl(domain);
    const url = new URL('/v2/', base);
    const context: RequestContext = { operation: `Cannot log in to "${domain}"`, domain, signal: options.signal };
    const hints: ErrorHints = { unauthorized: `Check the user name and password (or access token) for "${domain}"` };
    let response = await send(this.#transport, { url, trustedOrigin: base.origin }, context);
    if (response.status === 401) {
      const method = authMethodOf(response.headers['www-authenticate']);
      const refused = await responseError(response, context, hints);
      if (method === undefined) throw refused;
      let authorization: string;
      if (method.kind === 'basic') {
        if (!this.#endpoints.canSendCredentials(base)) throw refused;
        authorization = basicAuthorization(credentials);
      } else {
        const token = await fetchToken(this.#deps(), { method, scope: undefined, credentials }, context);
        authorization = `Bearer ${token.token}`;
      }
      response = await send(this.#transport, { url, headers: { authorization }, trustedOrigin: base.origin }, context);
    }
    if (response.status < 200 || response.status >= 300) throw await responseError(response, context, hints);
    await discard(response.body);
  }

  /** A GET to the registry with auth: retried once after a 401; only 2xx comes back. */
  async #get(url: URL, headers: Record<string, string>, repo: RepositoryName, context: RequestContext): Promise<HttpResponse> {
    const base = this.#endpoints.baseUrl(repo.domain);
    const scope = `repository:${repo.path}:pull`;
    const init = (authorization: string | undefined): SendInit => ({
      url,
      headers: authorization === undefined ? headers : { ...headers, authorization },
      trustedOrigin: base.origin,
    });
    let response = await send(this.#transport, init(await this.#auth.authorization(scope, context)), context);
    if (response.status === 401 && response.url.origin === base.origin) {
      const header = response.headers['www-authenticate'];
      const refused = await responseError(response, context);
      const retry = await this.#auth.challenged({ scope, header }, context);
      if (retry === undefined) throw refused;
      response = await send(this.#transport, init(retry), context);
    }
    if (response.status < 200 || response.status >= 300) throw await responseError(response, context);
    return response;
  }

  #url(repo: RepositoryName, rest: string): URL {
    return new URL(`/v2/${repo.path}/${rest}`, this.#endpoints.baseUrl(repo.domain));
  }

  #context(repo: RepositoryName, operation: string, options: RegistryRequestOptions): RequestContext {
    if (!isValidPath(repo.path)) {
      throw new InvalidArgumentError(`Invalid repository "${repo.path}": it is not a valid repository path`, {
        hint: 'Parse image references with parseReference',
      });
    }
    return { operation, domain: repo.domain, signal: options.signal };
  }

  #deps(): { transport: Transport; endpoints: RegistryEndpoints } {
    return { transport: this.#transport, endpoints: this.#endpoints };
  }
}

/** A 206 must start where it was asked to (RFC 9110 §14.4 Content-Range). */
function checkContentRange(response: HttpResponse, offset: number, context: RequestContext): void {
  const range = headerValue(response.headers, 'content-range') ?? '';
  const start = /^bytes (\d+)-\d+\/(?:\d+|\*)$/.exec(range.trim())?.[1];
  if (start !== undefined && Number(start) === offset) return;
  cancel(response.body);
  const answer = `the registry answered "Content-Range: ${range}"`;
  throw new InvalidContentError(`${context.operation}: asked to resume at byte ${offset}, ${answer}`, {
    hint: 'Remove the partial download and pull again',
  });
}
