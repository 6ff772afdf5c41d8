import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { text } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { InterruptedError, InvalidContentError, RegistryError } from '../../../../common/errors.js';
import type { Digest } from '../../../../oci/index.js';
import type { Credentials, RegistryClient } from '../../../../image/registry/index.js';
import { caught, makeClient, sendError, sendJson, startServer, type TestServer } from './http-server.js';

const digest = `sha256:${'c'.repeat(64)}` as Digest;
const content = 'the bytes of a layer';
const user: Credentials = { username: 'bob', password: 'pw' };
const basic = `Basic ${Buffer.from('bob:pw').toString('base64')}`;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function clientWith(credentials: Credentials | undefined): RegistryClient {
  const { client, close } = makeClient({ credentials: { get: async () => credentials } });
  cleanups.push(close);
  return client;
}

async function server(handler: Parameters<typeof startServer>[0], address?: string): Promise<TestServer> {
  const started = await startServer(handler, address);
  cleanups.push(started.close);
  return started;
}

/** Serves `content`, honouring `Range: bytes=N-`. */
function serveContent(req: IncomingMessage, res: ServerResponse, rangeSupported = true): void {
  const start = Number(/^bytes=(\d+)-$/.exec(req.headers.range ?? '')?.[1] ?? Number.NaN);
  if (rangeSupported && Number.isInteger(start)) {
    const part = content.slice(start);
    res.writeHead(206, { 'content-length': part.length, 'content-range': `bytes ${start}-${content.length - 1}/${content.length}` });
    res.end(part);
    return;
  }
  res.writeHead(200, { 'content-length': content.length });
  res.end(content);
}

describe('RegistryClient.getBlob', () => {
  it('follows a redirect to another host without the Authorization header', async () => {
    // 127.0.0.2 is another loopback host on Linux: a stand-in for blob storage on a CDN.
    const storage = await server((req, res) => serveContent(req, res), '127.0.0.2');
    const registry = await server((req, res, url) => {
      if (req.headers.authorization !== basic) {
        return sendError(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="r"' });
      }
      res.writeHead(307, { location: `${storage.origin}/blobs${url.pathname}?sig=abc` });
      res.end();
    });
    const blob = await clientWith(user).getBlob({ domain: registry.host, path: 'library/app' }, digest);
    expect(await text(blob.body)).toBe(content);
    expect(blob.size).toBe(content.length);
    expect(blob.resumed).toBe(false);
    expect(registry.requests.map((r) => r.headers.authorization)).toEqual([undefined, basic]);
    expect(storage.requests).toHaveLength(1);
    expect(storage.requests[0]?.url).toBe(`/blobs/v2/library/app/blobs/${digest}?sig=abc`);
    expect(storage.requests[0]?.headers.authorization).toBeUndefined();
  });

  it('keeps the Authorization header on a redirect within the registry', async () => {
    const registry = await server((req, res, url) => {
      if (req.headers.authorization !== basic) {
        return sendError(res, 401, 'UNAUTHORIZED', 'authentication required', { 'www-authenticate': 'Basic realm="r"' });
      }
      if (url.pathname.startsWith('/v2/')) {
        res.writeHead(302, { location: '/storage/blob' });
        res.end();
        return;
      }
      serveContent(req, res);
    });
    const blob = await clientWith(user).getBlob({ domain: registry.host, path: 'library/app' }, digest);
    expect(await text(blob.body)).toBe(content);
    expect(registry.requests.at(-1)?.headers.authorization).toBe(basic);
  });

  it('resumes at an offset when the registry honours Range', async () => {
    const registry = await server((req, res) => serveContent(req, res));
    const blob = await clientWith(undefined).getBlob({ domain: registry.host, path: 'library/app' }, digest, { offset: 4 });
    expect(registry.requests[0]?.headers.range).toBe('bytes=4-');
    expect(blob.resumed).toBe(true);
    expect(await text(blob.body)).toBe(content.slice(4));
    expect(blob.size).toBe(content.length - 4);
  });

  it('reports a full body when the registry ignores Range', async () => {
    const registry = await server((req, res) => serveContent(req, res, false));
    const blob = await clientWith(undefined).getBlob({ domain: registry.host, path: 'library/app' }, digest, { offset: 4 });
    expect(blob.resumed).toBe(false);
    expect(await text(blob.body)).toBe(content);
  });

  it('rejects a partial answer that starts elsewhere', async () => {
    const registry = await server((_req, res) => {
      res.writeHead(206, { 'content-range': `bytes 0-3/${content.length}` });
      res.end(content.slice(0, 4));
    });
    const err = await caught(() => clientWith(undefined).getBlob({ domain: registry.host, path: 'library/app' }, digest, { offset: 4 }));
    expect(err).toBeInstanceOf(InvalidContentError);
  });

  it('reports an unknown blob', async () => {
    const registry = await server((_req, res) => sendError(res, 404, 'BLOB_UNKNOWN', 'blob unknown to registry'));
    const err = await caught(() => clientWith(undefined).getBlob({ domain: registry.host, path: 'library/app' }, digest));
    expect((err as RegistryError).message).toBe(`Cannot download blob "${digest}" of "${registry.host}/library/app": blob unknown: blob unknown to registry`);
    expect((err as RegistryError).status).toBe(404);
  });

  it('turns an aborted request into InterruptedError', async () => {
    const registry = await server(() => {
      // Never answers.
    });
    const controller = new AbortController();
    const pending = clientWith(undefined).getBlob({ domain: registry.host, path: 'library/app' }, digest, { signal: controller.signal });
    setTimeout(() => controller.abort(), 20);
    expect(await caught(() => pending)).toBeInstanceOf(InterruptedError);
  });
});

describe('unreachable registries', () => {
  it('reports a closed port as "Cannot reach registry"', async () => {
    const probe = createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const { port } = probe.address() as AddressInfo;
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const domain = `127.0.0.1:${port}`;
    const err = await caught(() => clientWith(undefined).getManifest({ domain, path: 'library/app' }, 'latest'));
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).message).toBe(`Cannot reach registry "${domain}": connect ECONNREFUSED ${domain}`);
    expect((err as RegistryError).hint).toContain('insecure registries');
    expect((err as RegistryError).status).toBeUndefined();
  });
});

describe('RegistryClient.listTags', () => {
  const all = ['1.0', '1.1', '2.0', 'latest', 'zeta'];

  it('follows Link pagination', async () => {
    const registry = await server((_req, res, url) => {
      const n = Number(url.searchParams.get('n') ?? '100');
      const last = url.searchParams.get('last');
      const start = last === null ? 0 : all.indexOf(last) + 1;
      const page = all.slice(start, start + n);
      const more = start + n < all.length;
      const headers: Record<string, string> = more
        ? { link: `</v2/library/app/tags/list?n=${n}&last=${encodeURIComponent(page.at(-1) ?? '')}>; rel="next"` }
        : {};
      sendJson(res, 200, { name: 'library/app', tags: page }, headers);
    });
    const tags = await clientWith(undefined).listTags({ domain: registry.host, path: 'library/app' }, { pageSize: 2 });
    expect(tags).toEqual(all);
    expect(registry.requests.map((r) => r.url)).toEqual([
      '/v2/library/app/tags/list?n=2',
      '/v2/library/app/tags/list?n=2&last=1.1',
      '/v2/library/app/tags/list?n=2&last=latest',
    ]);
  });

  it('treats "tags": null as no tags', async () => {
    const registry = await server((_req, res) => sendJson(res, 200, { name: 'library/app', tags: null }));
    expect(await clientWith(undefined).listTags({ domain: registry.host, path: 'library/app' })).toEqual([]);
  });

  it('stops a Link loop', async () => {
    const registry = await server((_req, res) => sendJson(res, 200, { name: 'x', tags: ['a'] }, {
      link: '</v2/library/app/tags/list>; rel="next"',
    }));
    const err = await caught(() => clientWith(undefined).listTags({ domain: registry.host, path: 'library/app' }));
    expect((err as RegistryError).message).toContain('loop');
  });

  it('rejects a page that is not a tag list', async () => {
    const registry = await server((_req, res) => sendJson(res, 200, { tags: [1, 2] }));
    const err = await caught(() => clientWith(undefined).listTags({ domain: registry.host, path: 'library/app' }));
    expect(err).toBeInstanceOf(InvalidContentError);
  });
});
