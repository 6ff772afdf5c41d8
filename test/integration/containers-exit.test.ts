/**
 * Exit codes of berth run and of containers ended by kill and stop, as docker gives them:
 * the container's own status, 125 when berth fails, 126 when the command cannot be run,
 * 127 when it is not found, 128+N when a signal N ended it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

/** A shell that exits with `code` on SIGTERM (PID 1 gets the signal only with a handler). */
function trapping(code: number): string[] {
  return ['sh', '-c', `trap "echo got TERM; exit ${code}" TERM; echo ready; while :; do sleep 0.1; done`];
}

describe.skipIf(skip !== undefined)('container exit codes', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('exit');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  /** The exit code `wait` prints and the one `inspect` shows, which must agree. */
  async function exitCodes(container: string): Promise<{ waited: string; inspected: string }> {
    const waited = (await h.berthOk(['wait', container])).stdout.trim();
    const inspected = (await h.berthOk(['inspect', '-f', '{{.State.Status}} {{.State.ExitCode}}', container])).stdout.trim();
    return { waited, inspected };
  }

  it.concurrent("exits with the container's own status", async ({ expect }) => {
    const result = await h.berth(['run', '--rm', h.image, 'sh', '-c', 'echo out; exit 3']);
    expect(result.code).toBe(3);
    expect(result.stdout).toBe('out\n');
    expect((await h.berth(['run', '--rm', h.image, 'true'])).code).toBe(0);
  });

  it.concurrent("exits 127 with docker's message when the command is not found, and removes the --rm container", async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '--name', 'exit-not-found', h.image, 'no-such-command']);
    expect(result.code).toBe(127);
    expect(result.stderr).toContain('exec: "no-such-command": executable file not found in $PATH');
    const absolute = await h.berth(['run', '--rm', h.image, '/no/such/file']);
    expect(absolute.code).toBe(127);
    expect(absolute.stderr).toContain('/no/such/file');
    expect(absolute.stderr).toMatch(/no such file or directory/i);
    const detached = await h.berth(['run', '-d', '--rm', h.image, 'no-such-command']);
    expect(detached.code).toBe(127);
    expect((await h.berth(['inspect', 'exit-not-found'])).code).toBe(125);
  });

  it.concurrent('exits 126 when the command is not executable', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', h.image, '/noexec']);
    expect(result.code).toBe(126);
    expect(result.stderr).toContain('exec: "/noexec": permission denied');
  });

  it.concurrent('exits 125 for an unknown image with --pull never', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '--pull', 'never', 'no-such-image:latest', 'true']);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('No such image: no-such-image:latest');
    expect(result.stderr).not.toContain('Unable to find image');
  });

  it.concurrent('exits 125 for an unknown user, and creates nothing', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '--name', 'exit-no-user', '-u', 'no-such-user', h.image, 'true']);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('no-such-user');
    expect(result.stderr).toContain('no matching entries in passwd file');
    expect((await h.berth(['inspect', 'exit-no-user'])).code).toBe(125);
  });

  it.concurrent('kill -s TERM ends a trapping shell with its own status', async ({ expect }) => {
    await h.withContainer(['--name', 'exit-trap-kill'], trapping(7), async (id) => {
      await h.waitForLog(id, 'ready');
      await h.berthOk(['kill', '-s', 'TERM', 'exit-trap-kill']);
      expect(await exitCodes(id)).toEqual({ waited: '7', inspected: 'exited 7' });
      expect((await h.berthOk(['logs', id])).stdout).toContain('got TERM');
    });
  });

  it.concurrent('kill sends SIGKILL by default: 137', async ({ expect }) => {
    await h.withContainer([], ['sleep', '100'], async (id) => {
      await h.berthOk(['kill', id]);
      expect(await exitCodes(id)).toEqual({ waited: '137', inspected: 'exited 137' });
    });
  });

  it.concurrent('a foreground run ends with 128+N when the container is killed by signal N', async ({ expect }) => {
    const name = 'exit-foreground-killed';
    const running = h.berth(['run', '--name', name, h.image, 'sh', '-c', 'echo ready; exec sleep 100'], { timeoutMs: 20_000 });
    try {
      await h.waitForLog(name, 'ready');
      await h.berthOk(['kill', '-s', 'KILL', name]);
      const result = await running;
      expect(result.timedOut).toBe(false);
      expect(result.code).toBe(137);
    } finally {
      await running;
      await h.removeQuietly(name);
    }
  });

  it.concurrent('stop waits --time seconds for a PID 1 without a TERM handler, then kills it: 137', async ({ expect }) => {
    await h.withContainer([], ['sleep', '100'], async (id) => {
      const stopped = await h.berthOk(['stop', '-t', '2', id]);
      expect(stopped.ms).toBeGreaterThanOrEqual(2000);
      expect(stopped.ms).toBeLessThan(8000);
      expect(await exitCodes(id)).toEqual({ waited: '137', inspected: 'exited 137' });
    });
  });

  it.concurrent('stop of a shell that traps TERM returns promptly with its status', async ({ expect }) => {
    await h.withContainer([], trapping(5), async (id) => {
      await h.waitForLog(id, 'ready');
      const stopped = await h.berthOk(['stop', '-t', '10', id]);
      expect(stopped.ms).toBeLessThan(5000);
      expect(await exitCodes(id)).toEqual({ waited: '5', inspected: 'exited 5' });
    });
  });

  it.concurrent('--stop-signal and --stop-timeout are what stop uses', async ({ expect }) => {
    const command = ['sh', '-c', 'trap "exit 9" USR1; echo ready; while :; do sleep 0.1; done'];
    await h.withContainer(['--stop-signal', 'USR1', '--stop-timeout', '1'], command, async (id) => {
      await h.waitForLog(id, 'ready');
      const stopped = await h.berthOk(['stop', id]);
      expect(stopped.ms).toBeLessThan(5000);
      expect(await exitCodes(id)).toEqual({ waited: '9', inspected: 'exited 9' });
    });
    await h.withContainer(['--stop-timeout', '1'], ['sleep', '100'], async (id) => {
      const stopped = await h.berthOk(['stop', id]);
      expect(stopped.ms).toBeGreaterThanOrEqual(1000);
      expect(stopped.ms).toBeLessThan(6000);
      expect(await exitCodes(id)).toEqual({ waited: '137', inspected: 'exited 137' });
    });
  });

  it('foreground runs report their own status, never "unknown" (255), when many end at once', async () => {
    // The container's process turns zombie, then its monitor reaps it and writes exit.json:
    // the status must come from exit.json, not from the process being gone.
    const results = await Promise.all(Array.from({ length: 12 }, () => h.berth(['run', '--rm', h.image, 'sh', '-c', 'exit 3'])));
    expect(results.map((r) => r.code)).toEqual(results.map(() => 3));
  });

  it('stop records 137, never "unknown" (255), for several containers killed at once', async () => {
    // After SIGKILL the container's process is gone a moment before its monitor writes
    // exit.json; the status must not be settled in that window.
    const ids = await Promise.all(Array.from({ length: 10 }, () => h.runDetached([], ['sleep', '100'])));
    try {
      const stopped = await Promise.all(ids.map((id, i) => h.berth(['stop', '-t', String(i % 2), id])));
      expect(stopped.map((s) => s.code)).toEqual(ids.map(() => 0));
      const codes = await Promise.all(ids.map(async (id) => (await exitCodes(id)).inspected));
      expect(codes).toEqual(ids.map(() => 'exited 137'));
    } finally {
      await h.removeQuietly(...ids);
    }
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
