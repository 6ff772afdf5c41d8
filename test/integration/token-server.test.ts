/**
 * The token server against a real distribution 2.8 registry: public and protected
 * repositories, recorded requests, expiry, both ways of naming the key, refresh tokens.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { writeFixtureLayout } from '../helpers/fixtures.js';
import { pushLayout, skopeoInspectRaw } from '../helpers/push.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { getManifest, registryRequest } from '../helpers/registry-http.js';
import { checkPrerequisites } from '../helpers/require.js';
import { libtrustKeyId, parseScope } from '../helpers/token-server.js';

const skipReason = checkPrerequisites({ commands: ['docker-registry', 'skopeo', 'openssl'] });

describe('token server pure parts', () => {
  it('parses scopes whose names hold colons', () => {
    expect(parseScope('repository:library/busybox:pull,push')).toEqual({ type: 'repository', name: 'library/busybox', actions: ['pull', 'push'] });
    expect(parseScope('repository:host:5000/x:pull')).toEqual({ type: 'repository', name: 'host:5000/x', actions: ['pull'] });
    expect(parseScope('registry:catalog:*')).toEqual({ type: 'registry', name: 'catalog', actions: ['*'] });
    expect(parseScope('nonsense')).toBeUndefined();
  });

  it('formats libtrust key IDs as twelve groups of four base32 characters', () => {
    expect(libtrustKeyId(Buffer.from('anything'))).toMatch(/^([A-Z2-7]{4}:){11}[A-Z2-7]{4}$/);
  });
});

describe.skipIf(skipReason !== undefined)('a registry with token auth', () => {
  let layout = '';
  let registry: TestRegistry | undefined;
  const host = (): string => registry?.host ?? 'not started';
  const user = (): { username: string; password: string } => registry?.users[0] ?? { username: '', password: '' };

  beforeAll(async () => {
    layout = await makeTempDir('token-fixtures');
    await writeFixtureLayout(layout, ['busybox']);
    registry = await startRegistry({ auth: 'token', token: { publicRepositories: ['public/busybox'], expiresIn: 120 } });
    await pushLayout(layout, host(), 'public/busybox', 'busybox', { credentials: user() });
    await pushLayout(layout, host(), 'private/busybox', 'busybox', { credentials: user() });
  });
  afterAll(async () => {
    await registry?.stop();
    await removeDir(layout);
  });

  it('lets anyone pull a public repository and only users pull a protected one', async () => {
    const requests = registry?.tokenServer?.requests ?? [];
    await skopeoInspectRaw(`${host()}/public/busybox:busybox`);
    await expect(skopeoInspectRaw(`${host()}/private/busybox:busybox`)).rejects.toThrow(/unauthorized|authentication required|denied/i);
    const anonymous = requests.filter((r) => r.auth === 'anonymous');
    expect(anonymous.flatMap((r) => r.granted)).toEqual(
      expect.arrayContaining([
        { type: 'repository', name: 'public/busybox', actions: ['pull'] },
        { type: 'repository', name: 'private/busybox', actions: [] },
      ]),
    );
    const withCreds = await skopeoInspectRaw(`${host()}/private/busybox:busybox`, user());
    expect(withCreds.mediaType).toBe('application/vnd.oci.image.manifest.v1+json');
  });

  it('answers wrong credentials with 401 and records it', async () => {
    const target = { url: registry?.url ?? '', credentials: { username: 'berth', password: 'wrong' } };
    const res = await getManifest(target, { name: 'private/busybox', reference: 'busybox' });
    expect(res.status).toBe(401);
    expect(registry?.tokenServer?.requests.at(-1)).toMatchObject({ auth: 'basic', account: 'berth', status: 401 });
  });

  it('issues tokens the registry refuses once expires_in has passed', async () => {
    const server = registry?.tokenServer;
    if (server === undefined) throw new Error('no token server');
    const access = [{ type: 'repository', name: 'private/busybox', actions: ['pull'] }];
    const get = (token: string): Promise<Response> =>
      fetch(`${registry?.url ?? ''}/v2/private/busybox/manifests/busybox`, {
        headers: { Authorization: `Bearer ${token}`, Accept: 'application/vnd.oci.image.manifest.v1+json' },
      });
    const fresh = await get(server.issueToken('berth', access, { expiresIn: 30 }));
    expect(fresh.status).toBe(200);
    await fresh.body?.cancel();
    const expired = await get(server.issueToken('berth', access, { expiresIn: 0 }));
    expect(expired.status).toBe(401);
    await expired.body?.cancel();
    const foreign = await get(server.issueToken('berth', access, { issuer: 'someone-else' }));
    expect(foreign.status).toBe(401);
    await foreign.body?.cancel();
  });

  it('hands out refresh tokens for offline password grants (oauth.md)', async () => {
    const realm = registry?.tokenServer?.realm ?? '';
    const scope = 'repository:private/busybox:pull';
    const form = (fields: Record<string, string>): RequestInit => ({
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ service: registry?.tokenServer?.service ?? '', scope, client_id: 'berth-test', ...fields }).toString(),
    });
    const first = (await (await fetch(realm, form({ grant_type: 'password', username: user().username, password: user().password, access_type: 'offline' }))).json()) as Record<string, unknown>;
    expect(typeof first['refresh_token']).toBe('string');
    const refreshed = await fetch(realm, form({ grant_type: 'refresh_token', refresh_token: String(first['refresh_token']) }));
    expect(refreshed.status).toBe(200);
    const token = String(((await refreshed.json()) as Record<string, unknown>)['access_token']);
    const res = await fetch(`${registry?.url ?? ''}/v2/private/busybox/tags/list`, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    await res.body?.cancel();
  });

  it('works with the key named by x5c as well as kid', async () => {
    const other = await startRegistry({ auth: 'token', token: { keyHeader: 'x5c' } });
    try {
      const credentials = other.users[0];
      expect(await pushLayout(layout, other.host, 'x5c/busybox', 'busybox', credentials === undefined ? {} : { credentials })).toMatch(/^sha256:/);
      const res = await registryRequest({ url: other.url, credentials }, '/v2/x5c/busybox/tags/list');
      expect(JSON.parse(res.body.toString())).toEqual({ name: 'x5c/busybox', tags: ['busybox'] });
    } finally {
      await other.stop();
    }
  });
});
