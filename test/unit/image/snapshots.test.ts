import { mkdtempSync, rmSync, statSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Of } from '../../../common/digests.js';
import { StateLayout } from '../../../common/paths.js';
import { Snapshotter, lowerDirs } from '../../../image/snapshots.js';

const a = sha256Of('a');
const b = sha256Of('b');
const c = sha256Of('c');

describe('lowerDirs', () => {
  it('gives the layers topmost first', () => {
    expect(lowerDirs([{ diffId: a }, { diffId: b }, { diffId: c }], (d) => d.slice(7, 9))).toEqual([c, b, a].map((d) => d.slice(7, 9)));
  });

  it('keeps a layer listed twice once, at its topmost place (overlayfs refuses a lowerdir twice)', () => {
    const dirs = lowerDirs([{ diffId: a }, { diffId: b }, { diffId: a }, { diffId: c }, { diffId: b }], (d) => d);
    expect(dirs).toEqual([b, c, a]);
  });
});

describe('Snapshotter', () => {
  let root: string;
  let layout: StateLayout;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-snapshots-'));
    layout = new StateLayout(root, join(root, 'run'));
  });

  afterEach(() => {
    rmSync(root, { recursive: true, force: true });
  });

  const id = 'f'.repeat(64);

  it('prepare makes the writable layer in the container directory and returns its overlay over the layers', async () => {
    mkdirSync(layout.containerDir(id), { recursive: true });
    const snapshots = new Snapshotter(layout);
    const mount = snapshots.prepare(id, [{ diffId: a }, { diffId: b }, { diffId: a }]);
    expect(mount).toEqual({
      type: 'overlay', lowers: [layout.layerDiffDir(a), layout.layerDiffDir(b)],
      upper: join(layout.containerDir(id), 'upper'), work: join(layout.containerDir(id), 'work'),
    });
    expect(statSync(mount.upper ?? '').isDirectory()).toBe(true);
    expect(snapshots.mounts(id, [{ diffId: a }])).toEqual({ ...mount, lowers: [layout.layerDiffDir(a)] });
    await snapshots.remove(id);
    expect(() => statSync(mount.upper ?? '')).toThrow();
    await snapshots.remove(id);
  });

  it('view is read-only: lowers alone', () => {
    expect(new Snapshotter(layout).view([{ diffId: a }, { diffId: c }])).toEqual({ type: 'overlay', lowers: [layout.layerDiffDir(c), layout.layerDiffDir(a)] });
  });

  it('an image without layers has no snapshot', () => {
    expect(() => new Snapshotter(layout).view([])).toThrow('The image has no layers');
  });
});
