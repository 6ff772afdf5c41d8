/**
 * A container's input and output: json-file logs (streams, --tail, -t, -f, rotation),
 * stdin with -i, bind mounts (-v, --mount) read-write and read-only, and tmpfs mounts.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setUpContainers, type ContainerHarness, type ProbeReport } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

function mountAt(report: ProbeReport, target: string): ProbeReport['mounts'][number] | undefined {
  return report.mounts.filter((m) => m.target === target).at(-1);
}

describe.skipIf(skip !== undefined)('container input and output', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('io');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  /** A fresh host directory under the harness's work dir, with one file in it. */
  async function hostDir(name: string): Promise<string> {
    const dir = join(h.work, name);
    await mkdir(dir);
    await writeFile(join(dir, 'from-host'), 'host data\n');
    return dir;
  }

  it.concurrent('logs keeps stdout and stderr apart, in order', async ({ expect }) => {
    const id = await h.runDetached([], ['sh', '-c', 'echo out1; echo err1 >&2; echo out2; echo err2 >&2']);
    try {
      await h.berthOk(['wait', id]);
      const logs = await h.berthOk(['logs', id]);
      expect(logs.stdout).toBe('out1\nout2\n');
      expect(logs.stderr).toBe('err1\nerr2\n');
      const foreground = await h.berth(['run', '--rm', h.image, 'sh', '-c', 'echo out; echo err >&2; exit 1']);
      expect(foreground).toMatchObject({ code: 1, stdout: 'out\n', stderr: 'err\n' });
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('logs --tail N shows the last N lines, and -t prefixes RFC 3339 timestamps', async ({ expect }) => {
    const id = await h.runDetached([], ['sh', '-c', 'for i in 1 2 3 4 5; do echo line$i; done']);
    try {
      await h.berthOk(['wait', id]);
      expect((await h.berthOk(['logs', '--tail', '2', id])).stdout).toBe('line4\nline5\n');
      expect((await h.berthOk(['logs', '--tail', '0', id])).stdout).toBe('');
      expect((await h.berthOk(['logs', '--tail', 'all', id])).stdout).toBe('line1\nline2\nline3\nline4\nline5\n');
      const stamped = (await h.berthOk(['logs', '-t', id])).stdout.split('\n').filter((l) => l !== '');
      expect(stamped).toHaveLength(5);
      const times: number[] = [];
      stamped.forEach((line, i) => {
        const m = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z) line(\d)$/.exec(line);
        expect(m, line).not.toBeNull();
        expect(m?.[2]).toBe(String(i + 1));
        times.push(Date.parse(m?.[1] ?? ''));
      });
      expect(times).toEqual([...times].sort((a, b) => a - b));
      expect(Math.abs((times[0] ?? 0) - Date.now())).toBeLessThan(60_000);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('logs -f follows the output until the container exits', async ({ expect }) => {
    const id = await h.runDetached([], ['sh', '-c', 'echo first; sleep 1.5; for i in 1 2 3; do echo line$i; sleep 0.2; done; echo last >&2']);
    try {
      const followed = await h.berth(['logs', '-f', id], { timeoutMs: 30_000 });
      expect(followed.timedOut).toBe(false);
      expect(followed.code).toBe(0);
      expect(followed.stdout).toBe('first\nline1\nline2\nline3\n');
      expect(followed.stderr).toBe('last\n');
      expect((await h.berthOk(['inspect', '-f', '{{.State.Status}}', id])).stdout.trim()).toBe('exited');
      // Once it has exited, -f returns at once. --tail counts records of both streams.
      const again = await h.berth(['logs', '-f', '--tail', '2', id], { timeoutMs: 10_000 });
      expect(again).toMatchObject({ timedOut: false, code: 0, stdout: 'line3\n', stderr: 'last\n' });
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('--log-opt max-size=1k max-file=2 keeps at most 2 files, and logs still reads them in order', async ({ expect }) => {
    const lines = 300;
    const id = await h.runDetached(['--log-opt', 'max-size=1k', '--log-opt', 'max-file=2'], ['sh', '-c', `for i in $(seq 1 ${lines}); do echo "line $i of the rotation test"; done`]);
    try {
      expect((await h.berthOk(['wait', id])).stdout.trim()).toBe('0');
      const dir = h.containerDir(id);
      const files = (await readdir(dir)).filter((f) => f.startsWith(`${id}-json.log`)).sort();
      expect(files.length).toBeGreaterThanOrEqual(1);
      expect(files.length).toBeLessThanOrEqual(2);
      let recorded = 0;
      for (const f of files) {
        const size = (await stat(join(dir, f))).size;
        // A file is rotated once it reaches max-size: at most one record beyond it.
        expect(size, f).toBeLessThanOrEqual(1024 + 200);
        recorded += (await readFile(join(dir, f), 'utf8')).split('\n').filter((l) => l !== '').length;
      }
      const shown = (await h.berthOk(['logs', id])).stdout.split('\n').filter((l) => l !== '');
      // Everything still on disk is shown, oldest first, ending with the last line.
      expect(shown.length).toBe(recorded);
      expect(shown.length).toBeLessThan(lines);
      expect(shown.at(-1)).toBe(`line ${lines} of the rotation test`);
      const first = Number(/^line (\d+) /.exec(shown[0] ?? '')?.[1]);
      expect(shown).toEqual(Array.from({ length: shown.length }, (_, i) => `line ${first + i} of the rotation test`));
      // More than one file's worth is shown when the rotated file is kept.
      if (files.length === 2) expect(shown.length).toBeGreaterThan(recorded / 2);
    } finally {
      await h.removeQuietly(id);
    }
  });

  it.concurrent('run -i passes stdin to the container; without -i it gets none', async ({ expect }) => {
    const hi = await h.berth(['run', '-i', '--rm', h.image, 'cat'], { input: 'hi\n', timeoutMs: 30_000 });
    expect(hi).toMatchObject({ timedOut: false, code: 0, stdout: 'hi\n' });
    const big = 'x'.repeat(199_999) + '\n';
    const counted = await h.berth(['run', '-i', '--rm', h.image, 'wc', '-c'], { input: big, timeoutMs: 30_000 });
    expect(counted).toMatchObject({ timedOut: false, code: 0 });
    expect(counted.stdout.trim()).toBe('200000');
    const closed = await h.berth(['run', '--rm', h.image, 'cat'], { input: 'ignored\n', timeoutMs: 30_000 });
    expect(closed).toMatchObject({ timedOut: false, code: 0, stdout: '' });
  });

  it.concurrent('-v HOST:/data shares a host directory read-write', async ({ expect }) => {
    const dir = await hostDir('rw');
    const result = await h.berth(['run', '--rm', '-v', `${dir}:/data`, h.image, 'sh', '-c', 'cat /data/from-host; echo from container > /data/out']);
    expect(result).toMatchObject({ code: 0, stdout: 'host data\n' });
    expect(await readFile(join(dir, 'out'), 'utf8')).toBe('from container\n');
    const report = await h.probe(['-v', `${dir}:/data`], ['/data']);
    expect(report.paths['/data']).toMatchObject({ exists: true, writable: true });
  });

  it.concurrent('-v HOST:/data:ro and --mount ...,readonly share it read-only', async ({ expect }) => {
    const dir = await hostDir('ro');
    for (const flag of [['-v', `${dir}:/data:ro`], ['--mount', `type=bind,source=${dir},target=/data,readonly`]]) {
      const result = await h.berth(['run', '--rm', ...flag, h.image, 'sh', '-c', 'cat /data/from-host; echo x > /data/out']);
      expect(result.code, flag.join(' ')).not.toBe(0);
      expect(result.stdout).toBe('host data\n');
      expect(result.stderr).toContain('Read-only file system');
      expect(existsSync(join(dir, 'out'))).toBe(false);
      const report = await h.probe(flag, ['/data']);
      expect(report.paths['/data']).toMatchObject({ exists: true, readable: true, writable: false, writeError: 'Read-only file system' });
      expect(mountAt(report, '/data')?.options.split(',')).toContain('ro');
    }
    await h.withContainer(['-v', `${dir}:/data:ro`], ['sleep', '30'], async (id) => {
      const mounts = (await h.inspect(id))['Mounts'];
      expect(mounts).toEqual([expect.objectContaining({ Type: 'bind', Source: dir, Destination: '/data', RW: false })]);
    });
  });

  it.concurrent('--tmpfs /scratch mounts a tmpfs, writable even on a read-only root', async ({ expect }) => {
    const report = await h.probe(['--read-only', '--tmpfs', '/scratch'], ['/scratch']);
    expect(mountAt(report, '/scratch')?.fstype).toBe('tmpfs');
    expect(report.paths['/scratch']).toMatchObject({ exists: true, writable: true });
    const written = await h.berth(['run', '--rm', '--read-only', '--tmpfs', '/scratch', h.image, 'sh', '-c', 'echo data > /scratch/f && cat /scratch/f']);
    expect(written).toMatchObject({ code: 0, stdout: 'data\n' });
    const sized = await h.probe(['--mount', 'type=tmpfs,target=/sized,tmpfs-size=1m'], ['/sized']);
    expect(mountAt(sized, '/sized')?.fstype).toBe('tmpfs');
    expect(mountAt(sized, '/sized')?.super).toContain('size=1024k');
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
