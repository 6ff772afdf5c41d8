/**
 * Self-test of the real-component test infrastructure: fixtures, registry in each auth
 * mode, token server, skopeo pushes (OCI and Docker schema 2), umoci and overlay views.
 */
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadFsx } from '../../common/sys/fsx.js';
import { MediaType } from '../../oci/index.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { fixturePlatforms, writeFixtureLayout } from '../helpers/fixtures.js';
import { kitchenSinkProblems } from '../helpers/kitchen-sink-check.js';
import { sha256Digest, type BuiltImage, type BuiltIndex } from '../helpers/oci-layout.js';
import { pushLayout, seedRegistry, skopeoInspectRaw, type RawManifest } from '../helpers/push.js';
import { getManifest, pushBlob, pushManifest } from '../helpers/registry-http.js';
import { buildTar } from '../helpers/tar.js';
import { startRegistry, type Credentials, type TestRegistry } from '../helpers/registry.js';
import { checkPrerequisites } from '../helpers/require.js';
import { diffTrees, formatDifferences, mergeLayersWithOverlay, snapshotTree, umociUnpack } from '../helpers/tree.js';

const skipReason = checkPrerequisites({
  root: true,
  commands: ['docker-registry', 'skopeo', 'umoci', 'htpasswd', 'openssl', 'zstd', 'mount'],
});

/** Reads a document field without trusting the registry's JSON. */
function field(doc: unknown, ...path: (string | number)[]): unknown {
  let value = doc;
  for (const key of path) value = typeof value === 'object' && value !== null ? (value as Record<string | number, unknown>)[key] : undefined;
  return value;
}

function descriptors(doc: unknown, key: 'manifests' | 'layers'): unknown[] {
  const list = field(doc, key);
  return Array.isArray(list) ? (list as unknown[]) : [];
}

describe.skipIf(skipReason !== undefined)('test helpers', () => {
  let layout = '';
  let built: Record<string, BuiltImage | BuiltIndex> = {};

  beforeAll(async () => {
    layout = await makeTempDir('fixtures');
    built = await writeFixtureLayout(layout);
  });
  afterAll(async () => {
    await removeDir(layout);
  });

  const digestOf = (ref: string): string => built[ref]?.descriptor.digest ?? 'missing fixture';

  it('writes fixtures with the same digests every time', async () => {
    const again = await makeTempDir('fixtures-again');
    try {
      const second = await writeFixtureLayout(again);
      for (const [ref, b] of Object.entries(second)) expect(b.descriptor.digest, ref).toBe(digestOf(ref));
    } finally {
      await removeDir(again);
    }
  });

  describe.each(['none', 'htpasswd', 'token'] as const)('a registry with %s auth', (auth) => {
    let registry: TestRegistry | undefined;
    let credentials: Credentials | undefined;
    const host = (): string => registry?.host ?? 'not started';
    const withCreds = (): { credentials?: Credentials } => (credentials === undefined ? {} : { credentials });

    beforeAll(async () => {
      registry = await startRegistry({ auth });
      credentials = auth === 'none' ? undefined : registry.users[0];
    });
    afterAll(async () => {
      await registry?.stop();
    });

    it('serves pushed OCI images byte for byte, gzip and zstd', async () => {
      for (const ref of ['busybox', 'kitchen-sink-gzip', 'kitchen-sink-zstd']) {
        expect(await pushLayout(layout, host(), `fixtures/${ref}`, ref, withCreds())).toBe(digestOf(ref));
        const raw = await skopeoInspectRaw(`${host()}/fixtures/${ref}:${ref}`, credentials);
        expect(raw.mediaType).toBe(MediaType.ociManifest);
      }
      const zstd = await skopeoInspectRaw(`${host()}/fixtures/kitchen-sink-zstd:kitchen-sink-zstd`, credentials);
      expect(descriptors(zstd.json, 'layers').map((l) => field(l, 'mediaType'))).toEqual([MediaType.ociLayerZstd, MediaType.ociLayerZstd, MediaType.ociLayerZstd]);
    });

    it('serves the multi-platform OCI index and each platform image', async () => {
      expect(await pushLayout(layout, host(), 'fixtures/multi', 'multi', { ...withCreds(), all: true })).toBe(digestOf('multi'));
      const index = await skopeoInspectRaw(`${host()}/fixtures/multi:multi`, credentials);
      expect(index.mediaType).toBe(MediaType.ociIndex);
      const platforms = descriptors(index.json, 'manifests').map((m) => field(m, 'platform'));
      expect(platforms).toEqual(fixturePlatforms);
      for (const m of descriptors(index.json, 'manifests')) {
        const image = await skopeoInspectRaw(`${host()}/fixtures/multi@${String(field(m, 'digest'))}`, credentials);
        expect(image.digest).toBe(field(m, 'digest'));
      }
    });

    it('serves a Docker schema 2 manifest list pushed with skopeo --all --format v2s2', async () => {
      await pushLayout(layout, host(), 'fixtures/multi-v2s2', 'multi', { ...withCreds(), all: true, format: 'v2s2' });
      const list = await skopeoInspectRaw(`${host()}/fixtures/multi-v2s2:multi`, credentials);
      expect(list.mediaType).toBe(MediaType.dockerManifestList);
      const entries = descriptors(list.json, 'manifests');
      expect(entries.map((m) => field(m, 'platform', 'architecture'))).toEqual(fixturePlatforms.map((p) => p.architecture));
      for (const m of entries) {
        expect(field(m, 'mediaType')).toBe(MediaType.dockerManifest);
        const image: RawManifest = await skopeoInspectRaw(`${host()}/fixtures/multi-v2s2@${String(field(m, 'digest'))}`, credentials);
        expect(image.mediaType).toBe(MediaType.dockerManifest);
        expect(field(image.json, 'config', 'mediaType')).toBe(MediaType.dockerConfig);
        for (const layer of descriptors(image.json, 'layers')) expect(field(layer, 'mediaType')).toBe(MediaType.dockerLayerGzip);
      }
      await pushLayout(layout, host(), 'fixtures/busybox-v2s2', 'busybox', { ...withCreds(), format: 'v2s2' });
      expect((await skopeoInspectRaw(`${host()}/fixtures/busybox-v2s2:busybox`, credentials)).mediaType).toBe(MediaType.dockerManifest);
    });

    it('takes hand-made Docker manifests over plain HTTP (pushBlob, pushManifest)', async () => {
      const target = { url: registry?.url ?? '', credentials };
      const tar = buildTar([{ type: 'file', path: 'hello', content: 'hello\n' }]);
      const layer = gzipSync(tar);
      const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [sha256Digest(tar)] } }));
      const manifest = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MediaType.dockerManifest,
          config: { mediaType: MediaType.dockerConfig, digest: sha256Digest(config), size: config.length },
          layers: [{ mediaType: MediaType.dockerLayerGzip, digest: sha256Digest(layer), size: layer.length }],
        }),
      );
      expect(await pushBlob(target, { name: 'http/hello', data: config })).toBe(sha256Digest(config));
      expect(await pushBlob(target, { name: 'http/hello', data: layer })).toBe(sha256Digest(layer));
      const digest = await pushManifest(target, { name: 'http/hello', reference: 'v1', bytes: manifest, mediaType: MediaType.dockerManifest });
      const res = await getManifest(target, { name: 'http/hello', reference: 'v1' });
      expect(res.status).toBe(200);
      expect(res.headers.get('content-type')).toBe(MediaType.dockerManifest);
      expect(res.headers.get('docker-content-digest')).toBe(digest);
      expect(res.body.equals(manifest)).toBe(true);
    });

    it('seeds fixtures under fixtures/<ref>, with Docker variants on request', async () => {
      const seeded = await seedRegistry({ host: host() }, layout, {
        refs: ['busybox-symlinks', 'multi'],
        indexRefs: ['multi'],
        docker: ['multi'],
        ...withCreds(),
      });
      expect(Object.keys(seeded).sort()).toEqual(['busybox-symlinks', 'multi', 'multi-v2s2']);
      expect(seeded['multi']?.digest).toBe(digestOf('multi'));
      const list = await skopeoInspectRaw(seeded['multi-v2s2']?.reference ?? '', credentials);
      expect(list.mediaType).toBe(MediaType.dockerManifestList);
      expect(list.digest).toBe(seeded['multi-v2s2']?.digest);
    });

    // Only registries with authentication have anything to refuse.
    if (auth !== 'none') {
      it('refuses anonymous pulls', async () => {
        await pushLayout(layout, host(), 'fixtures/private', 'busybox', withCreds());
        await expect(skopeoInspectRaw(`${host()}/fixtures/private:busybox`)).rejects.toThrow(/unauthorized|authentication required|denied/i);
        await expect(skopeoInspectRaw(`${host()}/fixtures/private:busybox`, { username: 'berth', password: 'wrong' })).rejects.toThrow();
      });
    }
  });

  describe('flattened views', () => {
    it('umoci unpacks the kitchen sink as its expectations say', async () => {
      const rootfs = await umociUnpack(layout, 'kitchen-sink-gzip');
      try {
        expect(kitchenSinkProblems(await snapshotTree(rootfs.dir))).toEqual([]);
      } finally {
        await rootfs.remove();
      }
    });

    it('umoci unpacks every compression of the kitchen sink it reads to the same tree', async () => {
      const gzip = await umociUnpack(layout, 'kitchen-sink-gzip');
      const none = await umociUnpack(layout, 'kitchen-sink-none');
      try {
        const differences = diffTrees(await snapshotTree(gzip.dir), await snapshotTree(none.dir));
        expect(formatDifferences(differences)).toBe('');
      } finally {
        await gzip.remove();
        await none.remove();
      }
    });

    it('an overlay of a flattened rootfs shows it unchanged, and unmount leaves nothing', async () => {
      const rootfs = await umociUnpack(layout, 'kitchen-sink-gzip');
      try {
        const merged = await mergeLayersWithOverlay([rootfs.dir]);
        let differences;
        try {
          differences = diffTrees(await snapshotTree(rootfs.dir), await snapshotTree(merged.dir), { ignoreFields: [] });
        } finally {
          await merged.unmount();
        }
        expect(formatDifferences(differences)).toBe('');
        expect(await readFile('/proc/self/mountinfo', 'utf8')).not.toContain(merged.dir);
      } finally {
        await rootfs.remove();
      }
    });

    it('an overlay applies overlay-form whiteouts and opaque directories of upper layers', async () => {
      const dir = await makeTempDir('layers');
      try {
        const [lower, upper] = [join(dir, 'lower'), join(dir, 'upper')];
        await mkdir(join(lower, 'opaque'), { recursive: true });
        await writeFile(join(lower, 'gone'), 'lower\n');
        await writeFile(join(lower, 'kept'), 'lower\n');
        await writeFile(join(lower, 'opaque', 'hidden'), 'lower\n');
        await mkdir(join(upper, 'opaque'), { recursive: true });
        await writeFile(join(upper, 'opaque', 'new'), 'upper\n');
        // overlayfs.rst "whiteouts and opaque directories": a 0/0 char device, trusted.overlay.opaque=y.
        const fsx = loadFsx();
        fsx.mknod(join(upper, 'gone'), 0o020000 | 0o644, 0, 0);
        fsx.lsetxattr(join(upper, 'opaque'), 'trusted.overlay.opaque', Buffer.from('y'));
        const merged = await mergeLayersWithOverlay([upper, lower]);
        try {
          const paths = (await snapshotTree(merged.dir)).map((e) => `${e.path}:${e.type}:${JSON.stringify(e.xattrs)}`);
          expect(paths).toEqual(['kept:file:{}', 'opaque:dir:{}', 'opaque/new:file:{}']);
        } finally {
          await merged.unmount();
        }
      } finally {
        await removeDir(dir);
      }
    });

    it('diffTrees names each difference readably', async () => {
      const dir = await makeTempDir('diff');
      try {
        for (const side of ['a', 'b']) await mkdir(join(dir, side));
        await writeFile(join(dir, 'a', 'same'), 'x');
        await writeFile(join(dir, 'b', 'same'), 'x');
        await writeFile(join(dir, 'a', 'changed'), 'one', { mode: 0o600 });
        await writeFile(join(dir, 'b', 'changed'), 'two', { mode: 0o644 });
        await writeFile(join(dir, 'a', 'only-a'), '');
        await writeFile(join(dir, 'b', 'only-b'), '');
        const text = formatDifferences(diffTrees(await snapshotTree(join(dir, 'a')), await snapshotTree(join(dir, 'b'))));
        expect(text.split('\n')).toEqual([
          expect.stringMatching(/^changed: mode 0o600 != 0o644$/),
          expect.stringMatching(/^changed: sha256 "[0-9a-f]{64}" != "[0-9a-f]{64}"$/),
          'only-a: missing',
          'only-b: unexpected',
        ]);
      } finally {
        await removeDir(dir);
      }
    });
  });
});
