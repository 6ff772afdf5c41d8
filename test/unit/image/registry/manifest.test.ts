import { createHash } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { InvalidArgumentError, InvalidContentError, RegistryError } from '../../../../common/errors.js';
import { MediaType, manifestAccept, type Digest } from '../../../../oci/index.js';
import { caught, makeClient, sendError, startServer, type Handler, type TestServer } from './http-server.js';

const manifest = Buffer.from(JSON.stringify({
  schemaVersion: 2,
  mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: `sha256:${'a'.repeat(64)}`, size: 2 },
  layers: [],
}));
const manifestDigest = `sha256:${createHash('sha256').update(manifest).digest('hex')}` as Digest;
const otherDigest = `sha256:${'b'.repeat(64)}` as Digest;

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(handler: Handler, options: Parameters<typeof makeClient>[0] = {}): Promise<{ server: TestServer; client: ReturnType<typeof makeClient>['client'] }> {
  const server = await startServer(handler);
  const { client, close } = makeClient(options);
  cleanups.push(server.close, close);
  return { server, client };
}

function serveManifest(contentType: string, extra: Record<string, string> = {}): Handler {
  return (_req, res, url) => {
    if (url.pathname === '/v2/library/app/manifests/1.0' || url.pathname === `/v2/library/app/manifests/${manifestDigest}`) {
      res.writeHead(200, { 'content-type': contentType, 'content-length': manifest.length, ...extra });
      res.end(manifest);
      return;
    }
    sendError(res, 404, 'MANIFEST_UNKNOWN', 'manifest unknown');
  };
}

describe('RegistryClient.getManifest', () => {
  it('fetches by tag with every manifest type accepted and digests the bytes', async () => {
    const { server, client } = await setup(serveManifest(`${MediaType.ociManifest}; charset=utf-8`, {
      'docker-content-digest': otherDigest,
    }));
    const result = await client.getManifest({ domain: server.host, path: 'library/app' }, '1.0');
    expect(result.mediaType).toBe(MediaType.ociManifest);
    expect(result.digest).toBe(manifestDigest);
    expect(result.bytes.equals(manifest)).toBe(true);
    const accept = String(server.requests[0]?.headers.accept);
    for (const type of manifestAccept) expect(accept).toContain(type);
    expect(server.requests[0]?.headers['user-agent']).toBe('berth');
  });

  it('fetches by digest and verifies it', async () => {
    const { server, client } = await setup(serveManifest(MediaType.ociManifest));
    const result = await client.getManifest({ domain: server.host, path: 'library/app' }, manifestDigest);
    expect(result.digest).toBe(manifestDigest);
    expect(server.requests[0]?.url).toBe(`/v2/library/app/manifests/${manifestDigest}`);
  });

  it('rejects a manifest whose bytes do not match the digest asked for', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.ociManifest, 'docker-content-digest': otherDigest });
      res.end(manifest);
    });
    const err = await caught(() => client.getManifest({ domain: server.host, path: 'library/app' }, otherDigest));
    expect(err).toBeInstanceOf(InvalidContentError);
    expect((err as InvalidContentError).message).toBe(
      `Cannot pull "${server.host}/library/app@${otherDigest}": the registry sent a manifest whose digest is "${manifestDigest}", not "${otherDigest}"`,
    );
  });

  it('takes the media type from the document when Content-Type is generic', async () => {
    const { server, client } = await setup(serveManifest('application/json'));
    const result = await client.getManifest({ domain: server.host, path: 'library/app' }, '1.0');
    expect(result.mediaType).toBe(MediaType.ociManifest);
  });

  it('rejects a manifest whose Content-Length is over the limit before reading it', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.ociManifest, 'content-length': 10 * 1024 * 1024 });
      res.write(Buffer.alloc(1024));
      // Never finishes: the client must not wait for the body.
    }, { maxManifestBytes: 1024 });
    const err = await caught(() => client.getManifest({ domain: server.host, path: 'library/app' }, '1.0'));
    expect(err).toBeInstanceOf(InvalidContentError);
    expect((err as Error).message).toContain('the manifest is 10485760 bytes, more than the limit of 1024 bytes');
  });

  it('rejects a streamed manifest as soon as it grows over the limit', async () => {
    let written = 0;
    const { server, client } = await setup((_req, res) => {
      res.writeHead(200, { 'content-type': MediaType.ociManifest });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      const pump = (): void => {
        // Stops when the client hangs up; an endless body proves the client stops reading.
        while (!res.destroyed && res.write(chunk)) written += chunk.length;
        if (!res.destroyed) res.once('drain', pump);
      };
      pump();
    }, { maxManifestBytes: 100 * 1024 });
    const err = await caught(() => client.getManifest({ domain: server.host, path: 'library/app' }, '1.0'));
    expect(err).toBeInstanceOf(InvalidContentError);
    expect((err as Error).message).toContain('the manifest is larger than the limit of 102400 bytes');
    expect(written).toBeLessThan(64 * 1024 * 1024);
  });

  it('reports an unknown manifest with the registry message and status 404', async () => {
    const { server, client } = await setup((_req, res) => sendError(res, 404, 'MANIFEST_UNKNOWN', 'manifest tagged by "nope" is not found'));
    const err = await caught(() => client.getManifest({ domain: server.host, path: 'library/app' }, 'nope'));
    expect(err).toBeInstanceOf(RegistryError);
    const error = err as RegistryError;
    expect(error.status).toBe(404);
    expect(error.registryCodes).toEqual(['MANIFEST_UNKNOWN']);
    expect(error.message).toBe(`Cannot pull "${server.host}/library/app:nope": manifest unknown: manifest tagged by "nope" is not found`);
    expect(error.hint).toContain('Check the name, tag or digest');
  });

  it('reports a server failure with its status', async () => {
    const { server, client } = await setup((_req, res) => {
      res.writeHead(503, { 'content-type': 'text/plain' });
      res.end('maintenance until noon\nmore');
    });
    const err = await caught(() => client.getManifest({ domain: server.host, path: 'library/app' }, '1.0'));
    expect((err as RegistryError).message).toBe(
      `Cannot pull "${server.host}/library/app:1.0": the registry answered 503 Service Unavailable: maintenance until noon`,
    );
    expect((err as RegistryError).status).toBe(503);
  });

  it('refuses references that are neither tags nor digests', async () => {
    const { client } = makeClient();
    await expect(client.getManifest({ domain: '127.0.0.1:1', path: 'x' }, '../../etc')).rejects.toBeInstanceOf(InvalidArgumentError);
    await expect(client.getManifest({ domain: '127.0.0.1:1', path: '../x' }, 'latest')).rejects.toBeInstanceOf(InvalidArgumentError);
  });
});
