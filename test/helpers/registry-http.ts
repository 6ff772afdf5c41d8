/**
 * Plain distribution-spec HTTP against a test registry, for what skopeo cannot do: raw
 * reads with a chosen Accept header, and pushing hand-made manifests (broken digests,
 * unusual media types) for negative tests. Handles Basic and Bearer challenges
 * (distribution docs/spec/auth/token.md "How to authenticate"). Fixtures themselves go in
 * through skopeo (push.ts).
 */
import { manifestAccept } from '../../oci/index.js';
import { sha256Digest } from './oci-layout.js';
import type { Credentials } from './token-server.js';

/** Where to send requests, and as whom. */
export interface RegistryTarget {
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  /** Omit for anonymous requests. */
  readonly credentials?: Credentials | undefined;
}

/** A registry response, body read. */
export interface RegistryResponse {
  readonly status: number;
  readonly headers: Headers;
  readonly body: Buffer;
}

/**
 * Sends one request; on a 401 answers the challenge once (Basic with the credentials, or a
 * token from the Bearer realm, anonymous when there are no credentials) and sends it again.
 */
export async function registryRequest(target: RegistryTarget, path: string, init: { method?: string; headers?: Record<string, string>; body?: Buffer } = {}): Promise<RegistryResponse> {
  const send = async (authorization: string | undefined): Promise<RegistryResponse> => {
    const headers: Record<string, string> = { ...init.headers, ...(authorization === undefined ? {} : { Authorization: authorization }) };
    const res = await fetch(new URL(path, target.url), { method: init.method ?? 'GET', headers, ...(init.body === undefined ? {} : { body: init.body }), redirect: 'manual' });
    return { status: res.status, headers: res.headers, body: Buffer.from(await res.arrayBuffer()) };
  };
  const first = await send(undefined);
  if (first.status !== 401) return first;
  const challenge = first.headers.get('www-authenticate') ?? '';
  const basic = target.credentials === undefined ? undefined : `Basic ${Buffer.from(`${target.credentials.username}:${target.credentials.password}`).toString('base64')}`;
  if (/^basic/i.test(challenge)) return basic === undefined ? first : send(basic);
  if (!/^bearer/i.test(challenge)) return first;
  const params = Object.fromEntries([...challenge.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1] ?? '', m[2] ?? '']));
  const tokenUrl = new URL(params['realm'] ?? '');
  if (params['service'] !== undefined) tokenUrl.searchParams.set('service', params['service']);
  if (params['scope'] !== undefined) tokenUrl.searchParams.set('scope', params['scope']);
  const tokenRes = await fetch(tokenUrl, basic === undefined ? {} : { headers: { Authorization: basic } });
  const tokenBody: unknown = await tokenRes.json();
  if (!tokenRes.ok || typeof tokenBody !== 'object' || tokenBody === null || !('token' in tokenBody) || typeof tokenBody.token !== 'string') return first;
  return send(`Bearer ${tokenBody.token}`);
}

/** Pushes a blob in one request (POST an upload, then PUT `?digest=`: distribution-spec "Pushing a blob monolithically"). */
export async function pushBlob(target: RegistryTarget, blob: { name: string; data: Buffer }): Promise<string> {
  const { name, data } = blob;
  const digest = sha256Digest(data);
  const start = await registryRequest(target, `/v2/${name}/blobs/uploads/`, { method: 'POST' });
  const location = start.headers.get('location');
  if (start.status !== 202 || location === null) throw new Error(`Cannot start a blob upload to "${name}": HTTP ${start.status} ${start.body.toString()}`);
  const url = new URL(location, target.url);
  url.searchParams.set('digest', digest);
  const put = await registryRequest(target, url.pathname + url.search, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/octet-stream' },
    body: data,
  });
  if (put.status !== 201) throw new Error(`Cannot upload blob "${digest}" to "${name}": HTTP ${put.status} ${put.body.toString()}`);
  return digest;
}

/** PUTs a manifest or index with its media type as Content-Type; returns its digest. */
export async function pushManifest(
  target: RegistryTarget,
  manifest: { name: string; reference: string; bytes: Buffer; mediaType: string },
): Promise<string> {
  const { name, reference, bytes, mediaType } = manifest;
  const res = await registryRequest(target, `/v2/${name}/manifests/${reference}`, { method: 'PUT', headers: { 'Content-Type': mediaType }, body: bytes });
  if (res.status !== 201) throw new Error(`Cannot push manifest "${name}:${reference}": HTTP ${res.status} ${res.body.toString()}`);
  return sha256Digest(bytes);
}

/** GETs a manifest with the given Accept types (default: every manifest and index type). */
export async function getManifest(target: RegistryTarget, manifest: { name: string; reference: string; accept?: readonly string[] }): Promise<RegistryResponse> {
  const types = manifest.accept ?? manifestAccept;
  return registryRequest(target, `/v2/${manifest.name}/manifests/${manifest.reference}`, { headers: { Accept: types.join(', ') } });
}
