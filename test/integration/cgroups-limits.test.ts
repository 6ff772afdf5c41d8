/**
 * Resource limits on this host's real cgroups (v1 controllers here; cgroup v2 runs in a
 * QEMU guest, see qemu-guest tests): a container is held to --memory (OOM-killed, 137,
 * State.OOMKilled), --pids-limit, --cpus and --cpuset-cpus; pause stops it and unpause lets
 * it go on; update changes a running container's limits; stats agrees with the cgroup
 * files; limits docker refuses leave nothing behind.
 */
import { readdir, readFile, rmdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

/** A control file of container `id`'s leaf in the v1 hierarchy that has `controller`. */
async function leafFile(id: string, controller: string, file: string): Promise<string> {
  for (const hierarchy of await readdir('/sys/fs/cgroup')) {
    if (!hierarchy.split(',').includes(controller)) continue;
    return join('/sys/fs/cgroup', hierarchy, 'berth', id, file);
  }
  throw new Error(`this host has no v1 ${controller} hierarchy`);
}

async function readNumber(path: string): Promise<number> {
  return Number((await readFile(path, 'utf8')).trim());
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe.skipIf(skip !== undefined)('resource limits', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('limits');
  });

  afterAll(async () => {
    try {
      if (h !== undefined) {
        const left = await h.leftovers();
        if (left.length > 0) throw new Error(`left behind:\n${left.join('\n')}`);
      }
    } finally {
      await h?.cleanup();
    }
  });

  it.concurrent('kills a container that allocates beyond --memory: 137 and State.OOMKilled', async ({ expect }) => {
    const name = 'limits-oom';
    // A string that doubles until the shell cannot have it: 16 MiB and no swap.
    const result = await h.berth(['run', '--name', name, '-m', '16m', '--memory-swap', '16m', h.image, 'sh', '-c', 'x=a; while :; do x="$x$x"; done']);
    expect(result.code).toBe(137);
    const state = (await h.inspect(name))['State'] as Record<string, unknown>;
    expect(state['OOMKilled']).toBe(true);
    expect(state['ExitCode']).toBe(137);
    const hostConfig = (await h.inspect(name))['HostConfig'] as Record<string, unknown>;
    expect([hostConfig['Memory'], hostConfig['MemorySwap']]).toEqual([16 << 20, 16 << 20]);
    await h.berthOk(['rm', name]);
    // A container that exits by itself is not OOM-killed.
    await h.berthOk(['run', '--name', `${name}-fine`, '-m', '16m', h.image, 'true']);
    expect(((await h.inspect(`${name}-fine`))['State'] as Record<string, unknown>)['OOMKilled']).toBe(false);
    await h.berthOk(['rm', `${name}-fine`]);
  });

  it.concurrent('stops a fork loop at --pids-limit', async ({ expect }) => {
    // busybox sh gives up at the first fork that fails; its children stay, and the outer
    // shell becomes sleep without a fork of its own.
    const loop = ['sh', '-c', 'sh -c "while :; do sleep 30 & done" 2>/dev/null; exec sleep 60'];
    await h.withContainer(['--pids-limit', '10'], loop, async (id) => {
      const current = await leafFile(id, 'pids', 'pids.current');
      const events = await leafFile(id, 'pids', 'pids.events');
      // The kernel counts the forks it refused ("max N").
      let refused = 0;
      for (let i = 0; i < 100 && refused === 0; i++, await sleep(100)) refused = Number(/^max (\d+)$/m.exec(await readFile(events, 'utf8'))?.[1] ?? 0);
      expect(refused).toBeGreaterThan(0);
      expect((await readFile(await leafFile(id, 'pids', 'pids.max'), 'utf8')).trim()).toBe('10');
      // Ten at the refusal (the two shells and eight sleeps); the inner shell then leaves.
      const pids = await readNumber(current);
      expect(pids).toBeLessThanOrEqual(10);
      expect(pids).toBeGreaterThanOrEqual(9);
    });
  });

  it.concurrent('holds a busy loop near half a core with --cpus 0.5', async ({ expect }) => {
    await h.withContainer(['--cpus', '0.5'], ['sh', '-c', 'while :; do :; done'], async (id) => {
      const usage = await leafFile(id, 'cpuacct', 'cpuacct.usage');
      await sleep(300);
      const [t0, u0] = [performance.now(), await readNumber(usage)];
      await sleep(2000);
      const [t1, u1] = [performance.now(), await readNumber(usage)];
      const cores = (u1 - u0) / 1e6 / (t1 - t0);
      // CFS hands out 50 ms every 100 ms: near 0.5 over 2 s, never a whole core. Loose
      // below for a busy machine.
      expect(cores).toBeGreaterThan(0.25);
      expect(cores).toBeLessThan(0.6);
      expect(await readNumber(await leafFile(id, 'cpu', 'cpu.cfs_quota_us'))).toBe(50_000);
    });
  });

  it.concurrent('pins the container to --cpuset-cpus', async ({ expect }) => {
    const result = await h.berthOk(['run', '--rm', '--cpuset-cpus', '0', h.image, 'sh', '-c', 'grep Cpus_allowed_list /proc/self/status']);
    expect(result.stdout).toMatch(/^Cpus_allowed_list:\s+0$/m);
  });

  it.concurrent('pause stops all progress and unpause resumes it; ps and inspect show Paused', async ({ expect }) => {
    await h.withContainer(['--name', 'limits-pause'], ['sh', '-c', 'while :; do :; done'], async (id) => {
      const usage = await leafFile(id, 'cpuacct', 'cpuacct.usage');
      await h.berthOk(['pause', 'limits-pause']);
      expect(await readFile(await leafFile(id, 'freezer', 'freezer.state'), 'utf8')).toBe('FROZEN\n');
      const frozenAt = await readNumber(usage);
      await sleep(500);
      expect(await readNumber(usage)).toBe(frozenAt);
      expect((await h.berthOk(['ps', '--filter', 'status=paused', '--format', '{{.Names}} {{.Status}}'])).stdout).toMatch(/^limits-pause Up .* \(Paused\)$/m);
      const state = (await h.inspect(id))['State'] as Record<string, unknown>;
      expect([state['Status'], state['Paused'], state['Running']]).toEqual(['paused', true, true]);
      expect((await h.berth(['pause', id])).code).toBe(125);
      await h.berthOk(['unpause', 'limits-pause']);
      await sleep(300);
      expect(await readNumber(usage)).toBeGreaterThan(frozenAt);
      expect(((await h.inspect(id))['State'] as Record<string, unknown>)['Status']).toBe('running');
      expect((await h.berth(['unpause', id])).code).toBe(125);
      // rm -f of a paused container kills it (thawed for it) without waiting.
      await h.berthOk(['pause', id]);
    });
  });

  it.concurrent('update raises the memory limit of a running container and keeps it for the next start', async ({ expect }) => {
    await h.withContainer(['--name', 'limits-update', '-m', '32m'], ['sleep', '60'], async (id) => {
      const limit = await leafFile(id, 'memory', 'memory.limit_in_bytes');
      expect(await readNumber(limit)).toBe(32 << 20);
      expect((await h.berthOk(['update', '-m', '64m', '--memory-swap', '128m', '--pids-limit', '50', 'limits-update'])).stdout).toBe('limits-update\n');
      expect(await readNumber(limit)).toBe(64 << 20);
      expect(await readNumber(await leafFile(id, 'memory', 'memory.memsw.limit_in_bytes'))).toBe(128 << 20);
      expect((await readFile(await leafFile(id, 'pids', 'pids.max'), 'utf8')).trim()).toBe('50');
      const hostConfig = (await h.inspect(id))['HostConfig'] as Record<string, unknown>;
      expect([hostConfig['Memory'], hostConfig['MemorySwap'], hostConfig['PidsLimit']]).toEqual([64 << 20, 128 << 20, 50]);
      await h.berthOk(['restart', '-t', '0', id]);
      expect(await readNumber(limit)).toBe(64 << 20);
      // A limit docker refuses changes nothing.
      const refused = await h.berth(['update', '-m', '1m', id]);
      expect(refused.code).toBe(125);
      expect(refused.stderr).toContain('Minimum memory limit allowed is 6MB');
      expect(await readNumber(limit)).toBe(64 << 20);
      expect((await h.berth(['update', id])).code).toBe(125);
    });
  });

  it.concurrent('stats agrees with the cgroup files', async ({ expect }) => {
    // --network none: NetIO counts every interface but lo, and on a network the kernel's own
    // IPv6 neighbour discovery moves a few bytes at any moment.
    await h.withContainer(['--name', 'limits-stats', '--network', 'none', '-m', '64m', '--pids-limit', '20'], ['sh', '-c', 'sleep 60 & sleep 60 & wait'], async (id) => {
      await sleep(300);
      const rows = (await h.berthOk(['stats', '--no-stream', '--format', 'json', id])).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
      expect(rows).toHaveLength(1);
      const row = rows[0] ?? {};
      expect(row['Name']).toBe('limits-stats');
      expect(row['ID']).toBe(id.slice(0, 12));
      expect(row['PIDs']).toBe(String(await readNumber(await leafFile(id, 'pids', 'pids.current'))));
      expect(row['PIDs']).toBe('3');
      expect(row['MemUsage']).toMatch(/ \/ 64MiB$/);
      expect(row['NetIO']).toBe('0B / 0B');
      expect(row['CPUPerc']).toMatch(/^\d+\.\d\d%$/);
      const table = (await h.berthOk(['stats', '--no-stream', id])).stdout;
      expect(table.split('\n')[0]).toMatch(/^CONTAINER ID +NAME +CPU % +MEM USAGE \/ LIMIT +MEM % +NET I\/O +BLOCK I\/O +PIDS$/);
    });
  });

  it.concurrent('refuses what docker refuses with exit 125 and makes nothing', async ({ expect }) => {
    const cases: [string[], string][] = [
      [['-m', '3m'], 'Minimum memory limit allowed is 6MB'],
      [['-m', '64m', '--memory-swap', '32m'], 'Minimum memoryswap limit should be larger than memory limit'],
      [['--memory-swap', '64m'], 'You should always set the Memory limit when using Memoryswap limit'],
      [['--cpus', '0.5', '--cpu-quota', '50000'], 'Conflicting options: Nano CPUs and CPU Quota cannot both be set'],
      [['--cpus', '64'], 'Range of CPUs is from 0.01 to'],
      [['--cpuset-cpus', '4096'], 'Requested CPUs are not available'],
      [['-m', '12q'], "invalid suffix: 'q'"],
      [['--device', '/dev/no-such-device'], 'no such file or directory'],
      [['--device-cgroup-rule', 'x 1:2 rwm'], "invalid device cgroup format 'x 1:2 rwm'"],
    ];
    for (const [flags, message] of cases) {
      const result = await h.berth(['run', '--rm', '--name', 'limits-refused', ...flags, h.image, 'true']);
      expect(result.code, flags.join(' ')).toBe(125);
      expect(result.stderr, flags.join(' ')).toContain(message);
    }
    expect((await h.berthOk(['ps', '-aq', '--filter', 'name=limits-refused'])).stdout).toBe('');
    expect((await h.berth(['inspect', 'limits-refused'])).code).toBe(125);
  });

  it.concurrent('--device-read-bps and --device-write-iops throttle a block device of the host', async ({ expect }) => {
    // The first whole disk in /proc/partitions ("major minor blocks name"), e.g. vda.
    const disk = (await readFile('/proc/partitions', 'utf8')).split('\n').slice(2).map((l) => l.trim().split(/\s+/)).find((f) => f[1] === '0');
    expect(disk, 'this host has no block device').toBeDefined();
    const [major, , , name] = disk ?? [];
    const result = await h.berthOk(['run', '--rm', '--device-read-bps', `/dev/${name}:1mb`, '--device-write-iops', `/dev/${name}:100`, h.image, 'sh', '-c',
      'cat /sys/fs/cgroup/blkio/blkio.throttle.read_bps_device /sys/fs/cgroup/blkio/blkio.throttle.write_iops_device']);
    expect(result.stdout).toBe(`${major}:0 1048576\n${major}:0 100\n`);
    const refused = await h.berth(['run', '--rm', '--device-read-bps', '/dev/null:1mb', h.image, 'true']);
    expect(refused.code).toBe(125);
  });

  it.concurrent('--device gives the container the node and the right to use it; --device-cgroup-rule grants a rule', async ({ expect }) => {
    const result = await h.berthOk(['run', '--rm', '--device', '/dev/loop-control:/dev/lc:rw', '--device-cgroup-rule', 'c 1:11 r', h.image, 'sh', '-c',
      'ls -l /dev/lc; grep -E "^c (10:237|1:11) " /sys/fs/cgroup/devices/devices.list']);
    expect(result.stdout).toMatch(/^crw.* 10, +237 .* \/dev\/lc$/m);
    expect(result.stdout).toMatch(/^c 10:237 rw$/m);
    expect(result.stdout).toMatch(/^c 1:11 r$/m);
  });

  it.concurrent('--cgroup-parent puts the leaf under another parent, which rm leaves and the test removes', async ({ expect }) => {
    const parent = `/berth-limits-parent-${process.pid}`;
    try {
      await h.withContainer(['--cgroup-parent', parent.slice(1), '-m', '32m'], ['sleep', '60'], async (id) => {
        const hostConfig = (await h.inspect(id))['HostConfig'] as Record<string, unknown>;
        expect(hostConfig['CgroupParent']).toBe(parent);
        expect(await readNumber(join('/sys/fs/cgroup/memory', parent, id, 'memory.limit_in_bytes'))).toBe(32 << 20);
        expect((await h.berthOk(['exec', id, 'cat', '/proc/self/cgroup'])).stdout).toMatch(/^\d+:memory:\/$/m);
        await h.berthOk(['rm', '-f', id]);
        await expect(readdir(join('/sys/fs/cgroup/memory', parent, id))).rejects.toThrow(/ENOENT/);
      });
    } finally {
      for (const hierarchy of await readdir('/sys/fs/cgroup')) {
        await rmdir(join('/sys/fs/cgroup', hierarchy, parent)).catch(() => undefined);
      }
    }
  });
});
