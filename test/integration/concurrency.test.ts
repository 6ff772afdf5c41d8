/**
 * Concurrent berth processes on one store: 8 pulls at once of images that share layers
 * (the kitchen sink in four compressions and two manifest formats share their diffIDs),
 * then garbage collection racing more pulls.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthOk, layerDirs } from '../helpers/berth.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { writeFixtureLayout } from '../helpers/fixtures.js';
import { checkKitchenSinkTree } from '../helpers/kitchen-sink-check.js';
import { seedRegistry, type SeededImages } from '../helpers/push.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { checkPrerequisites } from '../helpers/require.js';
import { withMergedLayers } from '../helpers/tree.js';

/**
 * The kitchen sink's layer 3 writes into data/opaque without a directory entry, so the
 * overlay shows layer 3's implied directory (mode 0755) as docker's overlay2 would; see
 * isKnownDivergence in pull.test.ts. Every other expectation must hold.
 */
async function kitchenSinkProblems(lowers: readonly string[]): Promise<string[]> {
  const problems = await withMergedLayers(lowers, async (dir) => checkKitchenSinkTree(dir));
  return problems.filter((p) => p !== 'data/opaque: mode 0o755, should be 0o700');
}

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo'] });

describe.skipIf(skip !== undefined)('concurrent berth processes', () => {
  let registry: TestRegistry;
  let work: string;
  let seeded: SeededImages;
  const kitchenSinks = ['kitchen-sink-gzip', 'kitchen-sink-zstd', 'kitchen-sink-none', 'kitchen-sink-mixed', 'kitchen-sink-gzip-v2s2'];

  beforeAll(async () => {
    work = await makeTempDir('berth-concurrency-');
    const layout = join(work, 'layout');
    await writeFixtureLayout(layout, ['busybox', 'busybox-symlinks', 'kitchen-sink-gzip', 'kitchen-sink-zstd', 'kitchen-sink-none', 'kitchen-sink-mixed']);
    registry = await startRegistry();
    seeded = await seedRegistry(registry, layout, {
      refs: ['busybox', 'busybox-symlinks', 'kitchen-sink-gzip', 'kitchen-sink-zstd', 'kitchen-sink-none', 'kitchen-sink-mixed'],
      docker: ['kitchen-sink-gzip'],
    });
  });

  afterAll(async () => {
    await registry?.stop();
    if (work !== undefined) await removeDir(work);
  });

  it('8 parallel pulls of images sharing layers all succeed and store each layer once', async () => {
    const root = join(work, 'parallel', 'root');
    const refs = [...kitchenSinks, 'busybox', 'busybox-symlinks', 'kitchen-sink-gzip'];
    expect(refs).toHaveLength(8);
    const results = await Promise.all(refs.map((ref) => berth(['pull', '-q', seeded[ref]?.reference ?? ''], { root })));
    for (const [i, r] of results.entries()) expect(r.code, `${refs[i] ?? ''}: ${r.stderr}`).toBe(0);
    // Kitchen sinks share 3 diffIDs; the two busyboxes have one layer each.
    expect(await readdir(join(root, 'layers'))).toHaveLength(5);
    expect(await readdir(join(root, 'tmp'))).toEqual([]);
    for (const ref of kitchenSinks) {
      const lowers = await layerDirs(seeded[ref]?.reference ?? '', { root });
      const problems = await kitchenSinkProblems(lowers);
      expect(problems, `${ref}: ${problems.join('\n')}`).toEqual([]);
    }
  });

  it('image prune -a racing pulls never breaks a pull or leaves an image without its layers', async () => {
    const root = join(work, 'race', 'root');
    const pulls = kitchenSinks.map((ref) => berth(['pull', '-q', seeded[ref]?.reference ?? ''], { root }));
    const prunes = [0, 1, 2].map(async (i) => {
      await new Promise((resolve) => setTimeout(resolve, 150 * i));
      return berth(['image', 'prune', '-a'], { root });
    });
    const results = await Promise.all([...pulls, ...prunes]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    // Whatever survived the prunes is whole: every listed image has all its layers.
    const ids = (await berthOk(['images', '-q', '--no-trunc'], { root })).stdout.split('\n').filter((l) => l !== '');
    for (const id of ids) {
      const lowers = await layerDirs(id, { root });
      expect(await kitchenSinkProblems(lowers)).toEqual([]);
    }
  });
});
