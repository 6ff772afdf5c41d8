import { afterEach, describe, expect, it } from 'vitest';
import { RegistryError } from '../../../../common/errors.js';
import { MediaType } from '../../../../oci/index.js';
import type { Credentials, RegistryClient } from '../../../../image/registry/index.js';
import { caught, makeClient, sendError, sendJson, startServer, type Handler, type TestServer } from './http-server.js';

const user: Credentials = { username: 'alice', password: 's3cret:with:colons' };
const basic = `Basic ${Buffer.from('alice:s3cret:with:colons').toString('base64')}`;
const manifest = JSON.stringify({ schemaVersion: 2, mediaType: MediaType.ociManifest, config: {}, layers: [] });

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface TokenServerOptions {
  readonly expiresIn?: number;
  /** Anonymous tokens are refused by the registry (a private repository). */
  readonly privateRepo?: boolean;
}

/** A token server and a registry that accepts only the tokens it issued. */
async function bearerSetup(options: TokenServerOptions = {}): Promise<{ registry: TestServer; auth: TestServer; issued: string[] }> {
  const issued: string[] = [];
  const auth = await startServer((req, res) => {
    const authorization = req.headers.authorization;
    if (authorization !== undefined && authorization !== basic) {
      sendJson(res, 401, { details: 'incorrect username or password' });
      return;
    }
    const token = `${authorization === undefined ? 'anon' : 'user'}-${issued.length + 1}`;
    issued.push(token);
    sendJson(res, 200, { token, ...(options.expiresIn === undefined ? {} : { expires_in: options.expiresIn }) });
  });
  const registry = await startServer(bearerRegistry(auth.origin, issued, options.privateRepo ?? false));
  cleanups.push(auth.close, registry.close);
  return { registry, auth, issued };
}

function bearerRegistry(authOrigin: string, issued: readonly string[], privateRepo: boolean): Handler {
  return (req, res, url) => {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const scope = url.pathname === '/v2/' ? '' : ',scope="repository:library/app:pull"';
    const challenge = { 'www-authenticate': `Bearer realm="${authOrigin}/token",service="test-registry"${scope}` };
    if (token === undefined || !issued.includes(token) || (privateRepo && token.startsWith('anon'))) {
      sendError(res, 401, 'UNAUTHORIZED', 'authentication required', challenge);
      return;
    }
    if (url.pathname === '/v2/') return sendJson(res, 200, {});
    res.writeHead(200, { 'content-type': MediaType.ociManifest });
    res.end(manifest);
  };
}

function clientWith(credentials: Credentials | undefined, extra: Parameters<typeof makeClient>[0] = {}): RegistryClient {
  const { client, close } = makeClient({ credentials: { get: async () => credentials }, ...extra });
  cleanups.push(close);
  return client;
}

describe('RegistryClient bearer auth', () => {
  it('fetches an anonymous token for the repository scope and retries', async () => {
    const { registry, auth } = await bearerSetup();
    const client = clientWith(undefined);
    await client.getManifest({ domain: registry.host, path: 'library/app' }, 'latest');
    expect(auth.requests).toHaveLength(1);
    const tokenUrl = new URL(auth.requests[0]?.url ?? '', auth.origin);
    expect(tokenUrl.searchParams.get('service')).toBe('test-registry');
    expect(tokenUrl.searchParams.get('scope')).toBe('repository:library/app:pull');
    expect(tokenUrl.searchParams.has('account')).toBe(false);
    expect(auth.requests[0]?.headers.authorization).toBeUndefined();
    expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, 'Bearer anon-1']);
  });

  it('sends credentials to the token server only, never to the registry', async () => {
    const { registry, auth } = await bearerSetup({ privateRepo: true });
    const client = clientWith(user);
    await client.getManifest({ domain: registry.host, path: 'library/app' }, 'latest');
    expect(auth.requests[0]?.headers.authorization).toBe(basic);
    expect(new URL(auth.requests[0]?.url ?? '', auth.origin).searchParams.get('account')).toBe('alice');
    expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, 'Bearer user-1']);
  });

  it('reuses a token until it expires, then fetches a new one', async () => {
    const { registry, auth } = await bearerSetup({ expiresIn: 300 });
    let now = 1_000_000;
    const client = clientWith(undefined, { clock: { now: () => now } });
    const repo = { domain: registry.host, path: 'library/app' };
    await client.getManifest(repo, 'latest');
    now += 299_000;
    await client.getManifest(repo, 'latest');
    expect(auth.requests).toHaveLength(1);
    now += 2_000;
    await client.getManifest(repo, 'latest');
    expect(auth.requests).toHaveLength(2);
    expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, 'Bearer anon-1', 'Bearer anon-1', 'Bearer anon-2']);
  });

  it('shares one token fetch among concurrent requests', async () => {
    const { registry, auth } = await bearerSetup({ expiresIn: 300 });
    let now = 0;
    const client = clientWith(undefined, { clock: { now: () => now } });
    const repo = { domain: registry.host, path: 'library/app' };
    await client.getManifest(repo, 'latest');
    now += 400_000;
    await Promise.all([1, 2, 3].map(() => client.getManifest(repo, 'latest')));
    expect(auth.requests).toHaveLength(2);
    expect(registry.requests.slice(2).map((r) => r.headers.authorization)).toEqual(['Bearer anon-2', 'Bearer anon-2', 'Bearer anon-2']);
  });

  it('gets a fresh token when the registry refuses a cached one', async () => {
    const { registry, auth, issued } = await bearerSetup({ expiresIn: 3600 });
    const client = clientWith(undefined);
    const repo = { domain: registry.host, path: 'library/app' };
    await client.getManifest(repo, 'latest');
    issued.splice(0); // The registry forgets every token: the cached one is now revoked.
    await client.getManifest(repo, 'latest');
    expect(auth.requests).toHaveLength(2);
    expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, 'Bearer anon-1', 'Bearer anon-1', 'Bearer anon-1']);
  });

  it('carries the registry message of a 401 through, with a login hint', async () => {
    const { registry } = await bearerSetup({ privateRepo: true });
    const client = clientWith(undefined);
    const err = await caught(() => client.getManifest({ domain: registry.host, path: 'library/app' }, '1.0'));
    expect(err).toBeInstanceOf(RegistryError);
    const error = err as RegistryError;
    expect(error.status).toBe(401);
    expect(error.message).toBe(`Cannot pull "${registry.host}/library/app:1.0": unauthorized: authentication required`);
    expect(error.hint).toContain(`berth login ${registry.host}`);
  });

  it('reports credentials the token server refuses', async () => {
    const { registry } = await bearerSetup();
    const client = clientWith({ username: 'alice', password: 'wrong' });
    const err = await caught(() => client.getManifest({ domain: registry.host, path: 'library/app' }, '1.0'));
    expect((err as RegistryError).message).toBe(`Cannot pull "${registry.host}/library/app:1.0": unauthorized: incorrect username or password`);
    expect((err as RegistryError).hint).toContain('Check the user name and password');
  });

  it('does not send credentials to a plain-HTTP token realm on another host', async () => {
    const registry = await startServer((_req, res) => sendError(res, 401, 'UNAUTHORIZED', 'authentication required', {
      'www-authenticate': 'Bearer realm="http://auth.example.invalid/token",service="x"',
    }));
    cleanups.push(registry.close);
    const client = clientWith(user);
    const err = await caught(() => client.getManifest({ domain: registry.host, path: 'library/app' }, '1.0'));
    expect((err as RegistryError).message).toContain('the token server "http://auth.example.invalid" of registry');
    expect((err as RegistryError).message).toContain('uses plain HTTP');
  });

  it('aims a domain at the configured endpoint and asks credentials by domain', async () => {
    const { registry } = await bearerSetup();
    const asked: string[] = [];
    const { client, close } = makeClient({
      endpoints: { 'docker.io': registry.origin },
      credentials: { get: async (domain) => { asked.push(domain); return undefined; } },
    });
    cleanups.push(close);
    const result = await client.getManifest({ domain: 'docker.io', path: 'library/app' }, 'latest');
    expect(result.mediaType).toBe(MediaType.ociManifest);
    expect(asked).toContain('docker.io');
  });
});

describe('RegistryClient basic auth and refusals', () => {
  async function basicRegistry(): Promise<TestServer> {
    const registry = await startServer((req, res) => {
      if (req.headers.authorization !== basic) {
        sendError(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="Registry Realm"' });
        return;
      }
      res.writeHead(200, { 'content-type': MediaType.ociManifest });
      res.end(manifest);
    });
    cleanups.push(registry.close);
    return registry;
  }

  it('sends basic credentials after the challenge and up front afterwards', async () => {
    const registry = await basicRegistry();
    const client = clientWith(user);
    const repo = { domain: registry.host, path: 'library/app' };
    await client.getManifest(repo, 'latest');
    await client.getManifest(repo, 'latest');
    expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, basic, basic]);
  });

  it('fails with unauthorized when basic auth is asked and there are no credentials', async () => {
    const registry = await basicRegistry();
    const client = clientWith(undefined);
    const err = await caught(() => client.getManifest({ domain: registry.host, path: 'library/app' }, 'latest'));
    expect((err as RegistryError).status).toBe(401);
    expect(registry.requests).toHaveLength(1);
  });

  it('carries a 403 through', async () => {
    const registry = await startServer((_req, res) => sendError(res, 403, 'DENIED', 'requested access to the resource is denied'));
    cleanups.push(registry.close);
    const err = await caught(() => clientWith(user).getManifest({ domain: registry.host, path: 'library/app' }, 'latest'));
    expect((err as RegistryError).message).toBe(`Cannot pull "${registry.host}/library/app:latest": denied: requested access to the resource is denied`);
    expect((err as RegistryError).registryCodes).toEqual(['DENIED']);
    expect((err as RegistryError).hint).toContain(`berth login ${registry.host}`);
  });

  it('carries a 429 through with Retry-After', async () => {
    const registry = await startServer((_req, res) => sendError(res, 429, 'TOOMANYREQUESTS', 'You have reached your pull rate limit', {
      'retry-after': '30',
    }));
    cleanups.push(registry.close);
    const err = await caught(() => clientWith(undefined).getManifest({ domain: registry.host, path: 'library/app' }, 'latest'));
    expect((err as RegistryError).status).toBe(429);
    expect((err as RegistryError).message).toBe(
      `Cannot pull "${registry.host}/library/app:latest": too many requests: You have reached your pull rate limit; retry after 30 seconds`,
    );
  });
});

describe('RegistryClient.checkLogin', () => {
  it('succeeds when the token server accepts the credentials', async () => {
    const { registry, auth } = await bearerSetup();
    await clientWith(undefined).checkLogin(registry.host, user);
    expect(auth.requests[0]?.headers.authorization).toBe(basic);
    expect(new URL(auth.requests[0]?.url ?? '', auth.origin).searchParams.has('scope')).toBe(false);
    expect(registry.requests.map((r) => r.url)).toEqual(['/v2/', '/v2/']);
  });

  it('reports refused credentials as unauthorized with the registry message', async () => {
    const { registry } = await bearerSetup();
    const err = await caught(() => clientWith(undefined).checkLogin(registry.host, { username: 'alice', password: 'nope' }));
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(401);
    expect((err as RegistryError).message).toBe(`Cannot log in to "${registry.host}": unauthorized: incorrect username or password`);
  });

  it('checks basic credentials against /v2/', async () => {
    const registry = await startServer((req, res) => {
      if (req.headers.authorization === basic) return sendJson(res, 200, {});
      sendError(res, 401, 'UNAUTHORIZED', 'invalid credentials', { 'www-authenticate': 'Basic realm="r"' });
    });
    cleanups.push(registry.close);
    await clientWith(undefined).checkLogin(registry.host, user);
    const err = await caught(() => clientWith(undefined).checkLogin(registry.host, { username: 'alice', password: 'x' }));
    expect((err as RegistryError).message).toBe(`Cannot log in to "${registry.host}": unauthorized: invalid credentials`);
  });

  it('succeeds against a registry that needs no auth', async () => {
    const registry = await startServer((_req, res) => sendJson(res, 200, {}));
    cleanups.push(registry.close);
    await expect(clientWith(undefined).checkLogin(registry.host, user)).resolves.toBeUndefined();
  });
});
