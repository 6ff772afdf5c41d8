/**
 * Many containers at once: 50 `berth run -d` started concurrently against one store must
 * all come up, each in its own cgroup leaf under its own monitor, and `rm -f` must take
 * every trace of them away: records, directories, cgroup leaves, monitors, mounts.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

const count = 50;

describe.skipIf(skip !== undefined)('50 containers at once', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('scale');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  it(`starts ${count} containers concurrently, all Up, and rm -f removes every trace`, async () => {
    const started = await Promise.all(
      Array.from({ length: count }, (_, i) => h.berth(['run', '-d', '--name', `scale-${i}`, '-l', 'suite=scale', h.image, 'sleep', '60'])),
    );
    const ids = started.map((r) => r.stdout.trim()).filter((id) => /^[0-9a-f]{64}$/.test(id));
    try {
      expect(started.filter((r) => r.code !== 0).map((r) => r.stderr)).toEqual([]);
      expect(new Set(ids).size).toBe(count);

      const rows = (await h.berthOk(['ps', '--no-trunc', '--filter', 'label=suite=scale', '--format', '{{.ID}} {{.Status}}'])).stdout
        .split('\n')
        .filter((l) => l !== '');
      expect(rows).toHaveLength(count);
      for (const row of rows) expect(row).toMatch(/^[0-9a-f]{64} Up /);
      expect(new Set(rows.map((r) => r.split(' ')[0]))).toEqual(new Set(ids));

      const inspected: unknown = JSON.parse((await h.berthOk(['inspect', ...ids])).stdout);
      const states = (inspected as { Id: string; State: { Running: boolean; Pid: number } }[]).map((c) => c.State);
      expect(states.filter((s) => !s.Running)).toEqual([]);
      const pids = states.map((s) => s.Pid);
      expect(new Set(pids).size).toBe(count);
      // Each one's process is in its own leaf (one hierarchy is enough to tell).
      for (const [i, id] of ids.entries()) {
        const cgroup = await readFile(`/proc/${pids[i] ?? 0}/cgroup`, 'utf8');
        expect(cgroup).toContain(`:/berth/${id}\n`);
      }
      expect((await h.cgroupLeaves(ids)).length).toBeGreaterThanOrEqual(count);
      expect((await h.processesOfRoot()).filter((p) => p.includes('berth-monitor')).length).toBe(count);

      const removed = await h.berth(['rm', '-f', ...ids]);
      expect(removed.stderr).toBe('');
      expect(removed.code).toBe(0);
      expect(removed.stdout.split('\n').filter((l) => l !== '')).toEqual(ids);

      expect(await h.listIds()).toEqual([]);
      expect(await readdir(join(h.root, 'containers'))).toEqual([]);
      expect(await h.cgroupLeaves(ids)).toEqual([]);
      // A pid may have been reused since; only a process still in a container's leaf would be ours.
      for (const [i, pid] of pids.entries()) {
        expect(await readFile(`/proc/${pid}/cgroup`, 'utf8').catch(() => '')).not.toContain(ids[i] ?? '-');
      }
      expect(await h.leftovers()).toEqual([]);
    } finally {
      await h.removeQuietly(...ids);
    }
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
