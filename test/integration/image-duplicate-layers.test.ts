/**
 * An image whose manifest lists the same layer twice (docker and podman run such images;
 * registries hold them, e.g. images built by squashing tools that repeat a base layer).
 * overlayfs refuses a lowerdir that appears twice ("Too many levels of symbolic links"):
 * the snapshotter (image/snapshots.ts lowerDirs) must give it each layer once, and the
 * result must be the tree the full stack describes.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { busyboxImage } from '../helpers/fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { pushLayout } from '../helpers/push.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

describe.skipIf(skip !== undefined)('an image that lists one layer twice', () => {
  let h: ContainerHarness;
  let layout: string;
  let image: string;

  beforeAll(async () => {
    h = await setUpContainers('duplayers');
    layout = await mkdtemp(join(tmpdir(), 'berth-duplayers-'));
    const busybox = await busyboxImage();
    const base = busybox.layers[0];
    if (base === undefined) throw new Error('busyboxImage has no layer');
    // base, then a layer that adds /middle and deletes /etc/group, then base again: the top
    // copy brings /etc/group back, /middle stays.
    const middle = { createdBy: 'middle', entries: [{ type: 'file' as const, path: 'middle', content: 'from the middle\n' }, { type: 'file' as const, path: 'etc/.wh.group', content: '' }] };
    await writeOciLayout(layout, { dup: { ...busybox, layers: [base, middle, base] } });
    await pushLayout(layout, h.registry.host, 'berth-test/dup', 'dup');
    image = `${h.registry.host}/berth-test/dup:dup`;
    await h.berthOk(['pull', image]);
  });

  afterAll(async () => {
    await h?.cleanup();
    if (layout !== undefined) await rm(layout, { recursive: true, force: true });
  });

  it('runs, with the tree the whole stack gives', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '--network', 'none', image, 'sh', '-c', 'cat /middle; test -f /etc/group && echo group-back']);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('from the middle\ngroup-back\n');
  });

  it('its stopped container is copied from and diffed as any other', async ({ expect }) => {
    const id = (await h.berthOk(['create', '--network', 'none', image, 'true'])).stdout.trim();
    try {
      const out = await h.berthOk(['cp', `${id}:/middle`, '-']);
      expect(out.stdout).toContain('from the middle');
      expect((await h.berthOk(['diff', id])).stdout).toBe('');
    } finally {
      await h.removeQuietly(id);
    }
  });
});
