/**
 * Registry authentication against the real registry: distribution's bearer-token flow
 * (with the test token server) and htpasswd basic auth; `berth login`/`logout`; and
 * credentials from docker's config.json.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthOk } from '../helpers/berth.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { writeFixtureLayout } from '../helpers/fixtures.js';
import { pushLayout, seedRegistry } from '../helpers/push.js';
import { defaultUser, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'htpasswd', 'openssl'] });

describe.skipIf(skip !== undefined)('registry authentication', () => {
  let work: string;
  let layout: string;

  beforeAll(async () => {
    work = await makeTempDir('berth-auth-');
    layout = join(work, 'layout');
    await writeFixtureLayout(layout, ['busybox']);
  });

  afterAll(async () => {
    if (work !== undefined) await removeDir(work);
  });

  describe('bearer tokens', () => {
    let registry: TestRegistry;
    const root = (): string => join(work, 'token-store', 'root');

    beforeAll(async () => {
      registry = await startRegistry({ auth: 'token', token: { publicRepositories: ['fixtures/public'], expiresIn: 60 } });
      await seedRegistry(registry, layout, { refs: ['busybox'], credentials: defaultUser });
      // The same image under a public name too.
      await pushLayout(layout, registry.host, 'fixtures/public', 'busybox', { credentials: defaultUser });
    });

    afterAll(async () => {
      await registry?.stop();
    });

    it('pulls a public repository anonymously through the token flow', async () => {
      await berthOk(['pull', `${registry.host}/fixtures/public:busybox`], { root: root() });
      const anonymous = registry.tokenServer?.requests.filter((r) => r.auth === 'anonymous') ?? [];
      expect(anonymous.length).toBeGreaterThan(0);
    });

    it('refuses a private repository without credentials, with the registry message and a login hint', async () => {
      const result = await berth(['pull', `${registry.host}/fixtures/busybox:busybox`], { root: root() });
      expect(result.code).toBe(125);
      expect(result.stderr).toMatch(/unauthorized|denied|authentication required/i);
      expect(result.stderr).toContain(`berth login ${registry.host}`);
    });

    it('refuses a wrong password at login and stores nothing', async () => {
      const result = await berth(['login', registry.host, '-u', defaultUser.username, '--password-stdin'], { root: root(), input: 'wrong\n' });
      expect(result.code).toBe(125);
      expect(result.stderr).toContain(`Cannot log in to "${registry.host}"`);
      await expect(readFile(join(work, 'token-store', 'auth.json'), 'utf8')).rejects.toThrow();
    });

    it('logs in, pulls a private repository with a token, and logs out', async () => {
      const login = await berthOk(['login', registry.host, '-u', defaultUser.username, '--password-stdin'], { root: root(), input: `${defaultUser.password}\n` });
      expect(login.stdout).toBe('Login Succeeded\n');
      const auth = JSON.parse(await readFile(join(work, 'token-store', 'auth.json'), 'utf8')) as { auths: Record<string, { auth: string }> };
      expect(Object.keys(auth.auths)).toContain(registry.host);
      await berthOk(['pull', `${registry.host}/fixtures/busybox:busybox`], { root: root() });
      const withUser = registry.tokenServer?.requests.filter((r) => r.auth === 'basic' && r.account === defaultUser.username) ?? [];
      expect(withUser.length).toBeGreaterThan(0);
      const logout = await berthOk(['logout', registry.host], { root: root() });
      expect(logout.stdout).toBe(`Removing login credentials for ${registry.host}\n`);
    });

    it("uses credentials from docker's config.json", async () => {
      const dockerDir = join(work, 'token-store', 'docker');
      await mkdir(dockerDir, { recursive: true });
      const auth = Buffer.from(`${defaultUser.username}:${defaultUser.password}`).toString('base64');
      await writeFile(join(dockerDir, 'config.json'), JSON.stringify({ auths: { [registry.host]: { auth } } }));
      try {
        await berthOk(['rmi', `${registry.host}/fixtures/busybox:busybox`], { root: root() }).catch(() => undefined);
        await berthOk(['pull', `${registry.host}/fixtures/busybox:busybox`], { root: root() });
      } finally {
        await removeDir(dockerDir);
      }
    });
  });

  describe('htpasswd basic auth', () => {
    let registry: TestRegistry;
    const root = (): string => join(work, 'basic-store', 'root');

    beforeAll(async () => {
      registry = await startRegistry({ auth: 'htpasswd' });
      await seedRegistry(registry, layout, { refs: ['busybox'], credentials: defaultUser });
    });

    afterAll(async () => {
      await registry?.stop();
    });

    it('refuses without credentials and pulls after login', async () => {
      const image = `${registry.host}/fixtures/busybox:busybox`;
      const refused = await berth(['pull', image], { root: root() });
      expect(refused.code).toBe(125);
      expect(refused.stderr).toMatch(/unauthorized|authentication required/i);
      await berthOk(['login', registry.host, '-u', defaultUser.username, '-p', defaultUser.password], { root: root() });
      await berthOk(['pull', image], { root: root() });
    });
  });
});
