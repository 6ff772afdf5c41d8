/**
 * Bad input and hostile registries: each case gives a clear message, exit code 125 (130
 * when interrupted), and leaves the store as it was.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readdir, rm, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthBin, berthOk, type BerthResult } from '../helpers/berth.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { writeFixtureLayout } from '../helpers/fixtures.js';
import { startHostileProxy, type HostileProxy } from '../helpers/proxy.js';
import { seedRegistry, skopeoInspectRaw, type SeededImages } from '../helpers/push.js';
import { freePort, startRegistry, type TestRegistry } from '../helpers/registry.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo'] });

/** Every path under the store except SQLite's own files, for before/after comparisons. */
async function storeListing(root: string): Promise<string[]> {
  if (!existsSync(root)) return [];
  const entries = await readdir(root, { recursive: true });
  return entries.map((e) => relative(root, join(root, e))).filter((p) => !p.startsWith('berth.db') && p !== 'config.json').sort();
}

describe.skipIf(skip !== undefined)('pull failures leave the store unchanged', () => {
  let registry: TestRegistry;
  let proxy: HostileProxy;
  let work: string;
  let seeded: SeededImages;
  let root: string;
  let manifest: { json: unknown; bytes: Buffer };
  let plainManifest: { json: unknown; bytes: Buffer };

  beforeAll(async () => {
    work = await makeTempDir('berth-pull-errors-');
    const layout = join(work, 'layout');
    await writeFixtureLayout(layout, ['busybox', 'kitchen-sink-gzip', 'kitchen-sink-none']);
    registry = await startRegistry();
    seeded = await seedRegistry(registry, layout, { refs: ['busybox', 'kitchen-sink-gzip', 'kitchen-sink-none'] });
    proxy = await startHostileProxy(registry.host);
    root = join(work, 'store');
    // The store holds one good image: failures must leave it exactly as it is.
    await berthOk(['pull', seeded['busybox']?.reference ?? ''], { root });
    manifest = await skopeoInspectRaw(seeded['kitchen-sink-gzip']?.reference ?? '');
    plainManifest = await skopeoInspectRaw(seeded['kitchen-sink-none']?.reference ?? '');
  });

  afterAll(async () => {
    await proxy?.stop();
    await registry?.stop();
    if (work !== undefined) await removeDir(work);
  });

  const viaProxy = `${'{proxy}'}/fixtures/kitchen-sink-gzip:kitchen-sink-gzip`;
  const image = (): string => viaProxy.replace('{proxy}', proxy.host);
  const firstLayer = (m = manifest): string => ((m.json as { layers: { digest: string }[] }).layers[0]?.digest ?? '').replace('sha256:', '');
  const flipLastByte = (b: Buffer): Buffer => {
    const c = Buffer.from(b);
    c[c.length - 1] = (c[c.length - 1] ?? 0) ^ 0xff;
    return c;
  };

  async function expectFailure(args: readonly string[], message: string | RegExp): Promise<BerthResult> {
    const before = await storeListing(root);
    const imagesBefore = (await berthOk(['images', '--format', 'json'], { root })).stdout;
    const result = await berth(args, { root });
    expect(result.code, result.stderr).toBe(125);
    if (typeof message === 'string') expect(result.stderr).toContain(message);
    else expect(result.stderr).toMatch(message);
    expect(result.stderr).toMatch(/\nHint: /);
    expect(await storeListing(root)).toEqual(before);
    expect((await berthOk(['images', '--format', 'json'], { root })).stdout).toEqual(imagesBefore);
    return result;
  }

  it('unknown repository', async () => {
    proxy.rules = [];
    await expectFailure(['pull', `${registry.host}/fixtures/nothere:latest`], /Cannot pull "[^"]+": (name|manifest) unknown/);
  });

  it('unknown tag', async () => {
    await expectFailure(['pull', `${registry.host}/fixtures/busybox:nope`], /manifest unknown/);
  });

  it('unreachable registry', async () => {
    const port = await freePort();
    await expectFailure(['pull', `127.0.0.1:${port}/x:latest`], `Cannot reach registry "127.0.0.1:${port}"`);
  });

  it.each(['sha256:../x', `sha256:${'a'.repeat(63)}`, `sha256:${'A'.repeat(64)}`])('invalid digest %s in the reference', async (digest) => {
    await expectFailure(['pull', `${registry.host}/fixtures/busybox@${digest}`], /Invalid reference|invalid digest|digest/i);
  });

  it('401 with the registry message', async () => {
    proxy.rules = [{ path: /\/manifests\//, action: { kind: 'respond', status: 401, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"UNAUTHORIZED","message":"you shall not pass"}]}' } }];
    await expectFailure(['pull', image()], 'you shall not pass');
  });

  it('403 with the registry message', async () => {
    proxy.rules = [{ path: /\/manifests\//, action: { kind: 'respond', status: 403, headers: { 'content-type': 'application/json' }, body: '{"errors":[{"code":"DENIED","message":"access to this repository is denied"}]}' } }];
    await expectFailure(['pull', image()], 'access to this repository is denied');
  });

  it('429 with the registry message', async () => {
    proxy.rules = [{ path: /\/manifests\//, action: { kind: 'respond', status: 429, headers: { 'content-type': 'application/json', 'retry-after': '30' }, body: '{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down please"}]}' } }];
    await expectFailure(['pull', image()], 'slow down please');
  });

  it('a layer whose bytes do not match its digest', async () => {
    // An uncompressed layer: the changed byte reaches the digest check (a gzip layer fails
    // its own checksum first, see the next test).
    const changeContent = (b: Buffer): Buffer => {
      const c = Buffer.from(b);
      const at = c.indexOf('shared by three names');
      if (at < 0) throw new Error('fixture content not found in the first layer');
      c[at] = 'S'.charCodeAt(0);
      return c;
    };
    proxy.rules = [{ path: new RegExp(`/blobs/sha256:${firstLayer(plainManifest)}`), action: { kind: 'rewrite', change: changeContent } }];
    await expectFailure(['pull', `${proxy.host}/fixtures/kitchen-sink-none:kitchen-sink-none`], /its digest is "sha256:[0-9a-f]{64}", expected "sha256:[0-9a-f]{64}"/);
  });

  it('a gzip layer with corrupt data', async () => {
    proxy.rules = [{ path: new RegExp(`/blobs/sha256:${firstLayer()}`), action: { kind: 'rewrite', change: flipLastByte } }];
    await expectFailure(['pull', image()], /its gzip data is corrupt \(.+\)/);
  });

  it('a truncated layer', async () => {
    proxy.rules = [{ path: new RegExp(`/blobs/sha256:${firstLayer()}`), action: { kind: 'rewrite', change: (b) => b.subarray(0, b.length - 100), keepLength: false } }];
    await expectFailure(['pull', image()], /the download was truncated after \d+ of \d+ bytes|got \d+ bytes, expected \d+/);
  });

  it('a transfer cut short', async () => {
    proxy.rules = [{ path: new RegExp(`/blobs/sha256:${firstLayer()}`), action: { kind: 'rewrite', change: (b) => b.subarray(0, b.length - 100), keepLength: true } }];
    await expectFailure(['pull', image()], /truncated|Cannot fetch layer|terminated|closed/);
  });

  it('a layer longer than declared', async () => {
    proxy.rules = [{ path: new RegExp(`/blobs/sha256:${firstLayer()}`), action: { kind: 'rewrite', change: (b) => Buffer.concat([b, Buffer.alloc(4096, 1)]) } }];
    await expectFailure(['pull', image()], 'longer than the declared');
  });

  it('a malformed manifest', async () => {
    proxy.rules = [{ path: /\/manifests\//, action: { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: '{"schemaVersion": 2, "layers": [' } }];
    await expectFailure(['pull', image()], 'it is not valid JSON');
  });

  it('an oversized manifest', async () => {
    const big = JSON.stringify({ ...(manifest.json as object), annotations: { pad: 'x'.repeat(5 * 1024 * 1024) } });
    proxy.rules = [{ path: /\/manifests\//, action: { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: big } }];
    await expectFailure(['pull', image()], /4194304|4 MiB|too large|larger/);
  });

  it('a document that is both an index and a manifest', async () => {
    const both = JSON.stringify({ ...(manifest.json as object), manifests: [] });
    proxy.rules = [{ path: /\/manifests\//, action: { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: both } }];
    await expectFailure(['pull', image()], 'so it is both an index and a manifest');
  });

  it('an unsupported layer media type', async () => {
    const doc = manifest.json as { layers: { mediaType: string }[] };
    const odd = JSON.stringify({ ...doc, layers: doc.layers.map((l) => ({ ...l, mediaType: 'application/vnd.example.layer.v1.squashfs' })) });
    proxy.rules = [{ path: /\/manifests\//, action: { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.manifest.v1+json' }, body: odd } }];
    await expectFailure(['pull', image()], 'has the unsupported media type "application/vnd.example.layer.v1.squashfs"');
  });

  it('a config whose diffIDs do not match the layers', async () => {
    proxy.rules = [];
    const doc = manifest.json as { config: { digest: string } };
    proxy.rules = [{ path: new RegExp(`/blobs/${doc.config.digest}`), action: { kind: 'rewrite', change: (b) => Buffer.from(b.toString().replace(/"diff_ids":\["sha256:[0-9a-f]{64}"/, `"diff_ids":["sha256:${'0'.repeat(64)}"`)) } }];
    await expectFailure(['pull', image()], /Cannot verify|digest/);
  });

  it('a layer over a configured unpack limit (limits in config.json)', async () => {
    proxy.rules = [];
    await writeFile(join(root, 'config.json'), JSON.stringify({ limits: { maxEntries: 5 } }));
    try {
      const result = await expectFailure(['pull', image()], /maxEntries|entries/);
      expect(result.stderr).toContain('limits.maxEntries');
    } finally {
      await rm(join(root, 'config.json'));
    }
  });

  it('a broken config.json is reported with its path', async () => {
    await writeFile(join(root, 'config.json'), '{"insecure-registrys": []}');
    try {
      await expectFailure(['pull', image()], `Invalid configuration in "${join(root, 'config.json')}": unknown key "insecure-registrys"`);
    } finally {
      await rm(join(root, 'config.json'));
    }
  });

  it('skips index entries of unknown media types instead of failing', async () => {
    const doc = manifest.json as { mediaType: string };
    const manifestDigest = `sha256:${createHash('sha256').update(manifest.bytes).digest('hex')}`;
    const platform = { os: 'linux', architecture: 'amd64' };
    const index = JSON.stringify({
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.index.v1+json',
      manifests: [
        { mediaType: 'application/vnd.example.artifact.v1+json', digest: `sha256:${'e'.repeat(64)}`, size: 10, platform },
        { mediaType: doc.mediaType, digest: manifestDigest, size: manifest.bytes.length, platform },
      ],
    });
    proxy.rules = [{ path: /\/manifests\/kitchen-sink-gzip$/, action: { kind: 'respond', status: 200, headers: { 'content-type': 'application/vnd.oci.image.index.v1+json' }, body: index } }];
    await berthOk(['pull', image()], { root });
    await berthOk(['rmi', image()], { root });
  });

  it('Ctrl-C stops a pull cleanly with exit code 130', async () => {
    proxy.rules = [{ path: /\/blobs\/sha256:/, action: { kind: 'throttle', bytesPerSecond: 20_000 } }];
    const before = await storeListing(root);
    const child = spawn(berthBin, ['--root', root, 'pull', image()], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    await waitFor(async () => (await readdir(join(root, 'tmp'))).length > 0);
    child.kill('SIGINT');
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(code, stderr).toBe(130);
    expect(stderr).toContain('interrupted');
    expect(await storeListing(root)).toEqual(before);
  });

  it('kill -9 in the middle leaves nothing visible, and the next pull completes and cleans up', async () => {
    proxy.rules = [{ path: /\/blobs\/sha256:/, action: { kind: 'throttle', bytesPerSecond: 20_000 } }];
    const child = spawn(berthBin, ['--root', root, 'pull', image()], { stdio: 'ignore' });
    await waitFor(async () => (await readdir(join(root, 'tmp'))).length > 0);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.on('close', resolve));
    const images = (await berthOk(['images', '--format', 'json'], { root })).stdout;
    expect(images).not.toContain('kitchen-sink');
    proxy.rules = [];
    await berthOk(['pull', image()], { root });
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    await berthOk(['rmi', image()], { root });
  });
});

async function waitFor(check: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await check()) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error('condition not met in time');
}
