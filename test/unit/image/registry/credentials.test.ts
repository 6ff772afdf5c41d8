import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidContentError } from '../../../../common/errors.js';
import { CredentialStore, dockerHubAuthKey } from '../../../../image/registry/index.js';

let dir: string;
let berthPath: string;
let dockerPath: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'berth-credentials-'));
  berthPath = join(dir, 'config', 'berth', 'auth.json');
  dockerPath = join(dir, 'docker', 'config.json');
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function auth(user: string, password: string): string {
  return Buffer.from(`${user}:${password}`).toString('base64');
}

async function writeDockerConfig(document: unknown): Promise<void> {
  await rm(join(dir, 'docker'), { recursive: true, force: true });
  await mkdir(join(dir, 'docker'), { recursive: true });
  await writeFile(dockerPath, JSON.stringify(document));
}

describe('CredentialStore', () => {
  it('round-trips credentials through an atomic, private file in docker format', async () => {
    const store = new CredentialStore({ path: berthPath });
    expect(await store.get('registry.example.com:5000')).toBeUndefined();
    await store.set('registry.example.com:5000', 'alice', 'pa:ss');
    expect(await store.get('registry.example.com:5000')).toEqual({ username: 'alice', password: 'pa:ss' });
    const document: unknown = JSON.parse(await readFile(berthPath, 'utf8'));
    expect(document).toEqual({ auths: { 'registry.example.com:5000': { auth: auth('alice', 'pa:ss') } } });
    expect((await stat(berthPath)).mode & 0o777).toBe(0o600);
    expect(await readdir(join(dir, 'config', 'berth'))).toEqual(['auth.json']);
  });

  it('stores Docker Hub under docker\'s key and finds it by any of its names', async () => {
    const store = new CredentialStore({ path: berthPath });
    await store.set('docker.io', 'bob', 'pw');
    const document = JSON.parse(await readFile(berthPath, 'utf8')) as { auths: Record<string, unknown> };
    expect(Object.keys(document.auths)).toEqual([dockerHubAuthKey]);
    for (const domain of ['docker.io', 'index.docker.io', 'registry-1.docker.io']) {
      expect(await store.get(domain)).toEqual({ username: 'bob', password: 'pw' });
    }
  });

  it('replaces, keeps unrelated fields and removes', async () => {
    const store = new CredentialStore({ path: berthPath });
    await store.set('a.example', 'u1', 'p1');
    const withExtra = JSON.parse(await readFile(berthPath, 'utf8')) as Record<string, unknown>;
    await writeFile(berthPath, JSON.stringify({ ...withExtra, credHelpers: { 'x.example': 'pass' } }));
    await store.set('a.example', 'u2', 'p2');
    await store.set('b.example', 'u3', 'p3');
    expect(await store.get('a.example')).toEqual({ username: 'u2', password: 'p2' });
    expect(await store.remove('a.example')).toBe(true);
    expect(await store.remove('a.example')).toBe(false);
    expect(await store.get('a.example')).toBeUndefined();
    const document = JSON.parse(await readFile(berthPath, 'utf8')) as Record<string, unknown>;
    expect(document).toEqual({ auths: { 'b.example': { auth: auth('u3', 'p3') } }, credHelpers: { 'x.example': 'pass' } });
  });

  it('matches keys written with a scheme or path, and replaces them on set', async () => {
    const store = new CredentialStore({ path: berthPath });
    await mkdir(join(dir, 'config', 'berth'), { recursive: true });
    await writeFile(berthPath, JSON.stringify({ auths: { 'https://Registry.Example.com:5000/v2/': { auth: auth('old', 'x') } } }));
    expect(await store.get('registry.example.com:5000')).toEqual({ username: 'old', password: 'x' });
    await store.set('registry.example.com:5000', 'new', 'y');
    const document = JSON.parse(await readFile(berthPath, 'utf8')) as { auths: Record<string, unknown> };
    expect(Object.keys(document.auths)).toEqual(['registry.example.com:5000']);
  });

  it('falls back to docker\'s config.json, read only', async () => {
    await writeDockerConfig({
      auths: {
        [dockerHubAuthKey]: { auth: auth('hub', 'pw') },
        'ghcr.io': { auth: auth('gh', 'token') },
        'helper.example': {},
      },
      credsStore: 'desktop',
    });
    const store = new CredentialStore({ path: berthPath, dockerConfigPath: dockerPath });
    expect(await store.get('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(await store.get('ghcr.io')).toEqual({ username: 'gh', password: 'token' });
    expect(await store.get('helper.example')).toBeUndefined();
    await store.set('ghcr.io', 'mine', 'pw2');
    expect(await store.get('ghcr.io')).toEqual({ username: 'mine', password: 'pw2' });
    expect(await store.remove('docker.io')).toBe(false);
    expect(await store.get('docker.io')).toEqual({ username: 'hub', password: 'pw' });
    expect(JSON.parse(await readFile(dockerPath, 'utf8'))).toHaveProperty(['auths', 'ghcr.io', 'auth'], auth('gh', 'token'));
  });

  it('reports a malformed file', async () => {
    await writeDockerConfig({ auths: 'nope' });
    const store = new CredentialStore({ path: berthPath, dockerConfigPath: dockerPath });
    await expect(store.get('x.example')).rejects.toBeInstanceOf(InvalidContentError);
    await writeDockerConfig({ auths: { 'x.example': { auth: Buffer.from('no-colon').toString('base64') } } });
    await expect(store.get('x.example')).rejects.toThrow(/Cannot read the credentials for "x.example"/);
    await writeFile(dockerPath, '{not json');
    await expect(store.get('x.example')).rejects.toThrow(/is not valid JSON/);
  });
});
