/**
 * Two berth processes (and soon the API server beside the CLI) must never both win a
 * change of one container's state: state transitions are one compare-and-set in the
 * database (runtime/state.ts, ContainerRecords.compareAndSet). Each case races real berth
 * processes against one container and checks that exactly one did the work.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });
const racers = 6;

describe.skipIf(skip !== undefined)('concurrent berth processes on one container', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('concurrency');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  /** Runs `args` in `racers` berth processes at once. */
  function race(args: readonly string[]): ReturnType<ContainerHarness['berth']>[] {
    return Array.from({ length: racers }, () => h.berth(args));
  }

  it('start of a created container by many at once runs its command once; all of them succeed', async ({ expect }) => {
    const name = 'race-start';
    await h.berthOk(['create', '--name', name, h.image, 'sh', '-c', 'echo started; sleep 100']);
    try {
      const results = await Promise.all(race(['start', name]));
      // docker start of a running container is no error: the losers find it running.
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      await h.waitForLog(name, 'started');
      const logs = (await h.berthOk(['logs', name])).stdout;
      expect(logs.split('\n').filter((l) => l === 'started')).toHaveLength(1);
      const inspect = await h.inspect(name);
      expect((inspect['State'] as Record<string, unknown>)['Status']).toBe('running');
      expect(inspect['RestartCount']).toBe(0);
    } finally {
      await h.removeQuietly(name);
    }
  });

  it('start of an exited container by many at once makes it again once', async ({ expect }) => {
    const name = 'race-restart';
    // Exits the first time; runs on once its writable layer has /ran.
    await h.berthOk(['run', '--name', name, h.image, 'sh', '-c', 'echo ran; [ -e /ran ] && exec sleep 100; touch /ran']);
    try {
      const results = await Promise.all(race(['start', name]));
      for (const r of results) expect(r.code, r.stderr).toBe(0);
      await h.waitForLog(name, 'ran\nran');
      const logs = (await h.berthOk(['logs', name])).stdout;
      // Once from run, once from the one start that made it again; the others found it running.
      expect(logs.split('\n').filter((l) => l === 'ran')).toHaveLength(2);
      expect((await h.inspect(name))['RestartCount']).toBe(1);
      expect(((await h.inspect(name))['State'] as Record<string, unknown>)['Status']).toBe('running');
    } finally {
      await h.removeQuietly(name);
    }
  });

  it('rm -f by many at once removes the container once; all of them succeed and nothing is left', async ({ expect }) => {
    const name = 'race-rm';
    const id = (await h.berthOk(['run', '-d', '--name', name, h.image, 'sleep', '100'])).stdout.trim();
    const results = await Promise.all(race(['rm', '-f', name]));
    // One removes it; the others wait for that removal, or find it gone (docker's "No such
    // container" when they looked it up after it went).
    const failed = results.filter((r) => r.code !== 0);
    for (const r of failed) expect(r.stderr).toContain(`No such container: ${name}`);
    expect(results.some((r) => r.code === 0)).toBe(true);
    expect(await h.listIds()).not.toContain(id);
    expect(await h.leftovers()).toEqual([]);
  });

  it('rm without -f while another rm -f is removing is refused with docker\'s words', async ({ expect }) => {
    const name = 'race-rm-plain';
    await h.berthOk(['run', '-d', '--name', name, h.image, 'sh', '-c', 'trap "" TERM; sleep 100']);
    const forced = h.berth(['rm', '-f', name]);
    const plain = await Promise.all(race(['rm', name]));
    await forced;
    for (const r of plain) {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/You cannot remove a running container|Removal of container race-rm-plain is already in progress|No such container: race-rm-plain/);
    }
    expect(await h.leftovers()).toEqual([]);
  });

  it('rename of one container to one name by many at once: exactly one name wins, no container is lost', async ({ expect }) => {
    const names = Array.from({ length: racers }, (_, i) => `race-ren-${i}`);
    for (const n of names) await h.berthOk(['create', '--name', n, h.image, 'true']);
    try {
      const results = await Promise.all(names.map((n) => h.berth(['rename', n, 'race-ren-target'])));
      expect(results.filter((r) => r.code === 0)).toHaveLength(1);
      for (const r of results.filter((x) => x.code !== 0)) expect(r.stderr).toContain('Conflict. The container name "/race-ren-target" is already in use');
      const listed = (await h.berthOk(['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n');
      expect(listed.filter((n) => n === 'race-ren-target')).toHaveLength(1);
      expect(listed.filter((n) => n.startsWith('race-ren-'))).toHaveLength(racers);
    } finally {
      await h.removeQuietly('race-ren-target', ...names);
    }
  });
});
