/**
 * berth pull against a real registry (Debian's docker-registry), with fixtures pushed by
 * skopeo, and each unpacked image compared entry by entry with what umoci unpacks.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthOk, layerDirs } from '../helpers/berth.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { writeFixtureLayout } from '../helpers/fixtures.js';
import { kitchenSinkLayers } from '../helpers/kitchen-sink.js';
import { seedRegistry, type SeededImages } from '../helpers/push.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { checkPrerequisites } from '../helpers/require.js';
import { diffTrees, formatDifferences, snapshotTree, umociUnpack, withMergedLayers } from '../helpers/tree.js';

/**
 * Layers are unpacked once per diffID, independently of the layers below (DESIGN.md
 * "State"), as docker's overlay2 driver does. A directory that a layer only implies (it
 * holds entries of the layer but has no entry of its own) is created with docker's
 * defaults (mode 0755, mtime of the unpack) and, being the topmost copy, shows through the
 * overlay with them, where a flattening unpacker like umoci keeps the lower layer's. The
 * kitchen sink's upper layers have such directories on purpose; image builders emit parent
 * directory entries, so real images rarely do. Only mode and mtime of exactly those
 * directories may differ.
 */
const impliedDirs: ReadonlySet<string> = (() => {
  const implied = new Set<string>();
  for (const layer of kitchenSinkLayers().slice(1)) {
    const explicit = new Set(layer.filter((e) => e.type === 'dir').map((e) => e.path.replace(/\/$/, '')));
    for (const entry of layer) {
      const parts = entry.path.replace(/\/$/, '').split('/').slice(0, -1);
      for (let i = 1; i <= parts.length; i++) {
        const dir = parts.slice(0, i).join('/');
        if (!explicit.has(dir)) implied.add(dir);
      }
    }
  }
  return implied;
})();

function isKnownDivergence(d: { path: string; kind: string }): boolean {
  return impliedDirs.has(d.path) && (d.kind === 'mode' || d.kind === 'mtime');
}

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'umoci'] });

describe.skipIf(skip !== undefined)('berth pull from a real registry', () => {
  let registry: TestRegistry;
  let work: string;
  let layout: string;
  let seeded: SeededImages;
  let storeCount = 0;
  const newRoot = (): string => join(work, `store-${++storeCount}`, 'root');

  beforeAll(async () => {
    work = await makeTempDir('berth-pull-');
    layout = join(work, 'layout');
    await writeFixtureLayout(layout);
    registry = await startRegistry();
    seeded = await seedRegistry(registry, layout, {
      refs: ['busybox', 'busybox-symlinks', 'kitchen-sink-gzip', 'kitchen-sink-zstd', 'kitchen-sink-none', 'kitchen-sink-mixed', 'multi'],
      indexRefs: ['multi'],
      docker: ['kitchen-sink-gzip', 'multi'],
    });
  });

  afterAll(async () => {
    await registry?.stop();
    if (work !== undefined) await removeDir(work);
  });

  /** Pulls `ref` into a fresh store and compares the merged layers with umoci's rootfs of `umociRef`. */
  async function pullAndCompare(ref: string, umociRef: string): Promise<void> {
    const root = newRoot();
    const image = seeded[ref]?.reference ?? '';
    const pulled = await berthOk(['pull', image], { root });
    expect(pulled.stdout).toContain(`Status: Downloaded newer image for ${image}`);
    const lowers = await layerDirs(image, { root });
    const umoci = await umociUnpack(layout, umociRef);
    try {
      const expected = await snapshotTree(umoci.dir);
      const actual = await withMergedLayers(lowers, async (dir) => snapshotTree(dir));
      // mtimes are compared too, except where a layer changes a directory's content: there
      // overlayfs (berth) and a flattening unpacker (umoci) legitimately differ.
      const differences = diffTrees(expected, actual, { ignoreFields: [] }).filter((d) => !isKnownDivergence(d));
      expect(differences, formatDifferences(differences)).toEqual([]);
    } finally {
      await umoci.remove();
    }
  }

  it.each([
    ['busybox', 'busybox'],
    ['busybox-symlinks', 'busybox-symlinks'],
    ['kitchen-sink-gzip', 'kitchen-sink-gzip'],
    ['kitchen-sink-none', 'kitchen-sink-none'],
    // umoci cannot read zstd: the same content in gzip is the reference.
    ['kitchen-sink-zstd', 'kitchen-sink-gzip'],
    ['kitchen-sink-mixed', 'kitchen-sink-gzip'],
    ['kitchen-sink-gzip-v2s2', 'kitchen-sink-gzip'],
  ])('pulls %s and unpacks it as umoci does', async (ref, umociRef) => {
    await pullAndCompare(ref, umociRef);
  });

  it('picks the host platform from a multi-platform index, and another with --platform', async () => {
    const root = newRoot();
    const image = seeded['multi']?.reference ?? '';
    await berthOk(['pull', image], { root });
    const host = JSON.parse((await berthOk(['image', 'inspect', image], { root })).stdout) as [{ Architecture: string }];
    expect(host[0].Architecture).toBe('amd64');
    await berthOk(['pull', '--platform', 'linux/arm64', image], { root });
    const arm = JSON.parse((await berthOk(['image', 'inspect', image], { root })).stdout) as [{ Architecture: string; Variant?: string }];
    expect(arm[0].Architecture).toBe('arm64');
  });

  it('pulls from a Docker schema 2 manifest list', async () => {
    const root = newRoot();
    const image = seeded['multi-v2s2']?.reference ?? '';
    await berthOk(['pull', image], { root });
    const { stdout } = await berthOk(['images', '--format', 'json'], { root });
    expect(stdout).toContain('"Tag":"multi"');
  });

  it('lists the platforms an image offers when none matches', async () => {
    const result = await berth(['pull', '--platform', 'linux/s390x', seeded['multi']?.reference ?? ''], { root: newRoot() });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('it has no image for platform "linux/s390x"');
    expect(result.stderr).toContain('Hint: It offers: linux/amd64, linux/arm64/v8, linux/arm/v7; choose one with --platform');
  });

  it('pulls by digest and records the repo digest', async () => {
    const root = newRoot();
    const { digest } = seeded['busybox'] ?? { digest: '' };
    const byDigest = `${registry.host}/fixtures/busybox@${digest}`;
    const result = await berthOk(['pull', byDigest], { root });
    expect(result.stdout).toContain(`Digest: ${digest}`);
    const images = await berthOk(['images', '--digests'], { root });
    expect(images.stdout).toContain(digest);
  });

  it('skips what is present: a second pull is up to date and a shared layer is stored once', async () => {
    const root = newRoot();
    await berthOk(['pull', seeded['kitchen-sink-gzip']?.reference ?? ''], { root });
    const again = await berthOk(['pull', seeded['kitchen-sink-gzip']?.reference ?? ''], { root });
    expect(again.stdout).toContain('Already exists');
    expect(again.stdout).toContain('Status: Image is up to date');
    // The v2s2 form has the same layers (same diffIDs): nothing new is unpacked.
    await berthOk(['pull', seeded['kitchen-sink-gzip-v2s2']?.reference ?? ''], { root });
    expect(await readdir(join(root, 'layers'))).toHaveLength(3);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
  });
});
