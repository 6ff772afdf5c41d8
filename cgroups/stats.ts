/**
 * A container's resource usage read from its cgroup files, v1 or v2, in one shape: what
 * `berth stats` shows (docker's stats API fields: cpu_stats, memory_stats, blkio_stats,
 * pids_stats). Synchronous reads of a few small files, like the rest of cgroups/.
 */
import { join } from 'node:path';
import { readControl } from './files.js';
import type { ControllerMap } from './control.js';
import type { TaskStats } from '../common/backend.js';

/**
 * Raw usage of one container's cgroup at one moment: the cgroup's part of what a backend
 * reports (common/backend.ts TaskStats, which documents each field).
 */
export type CgroupStats = Omit<TaskStats, 'netRx' | 'netTx' | 'read'>;

/** v1 reports "no limit" as the largest page-aligned value: anything this large is unlimited. */
const unlimited = 2 ** 62;

function num(text: string): number | undefined {
  const t = text.trim();
  if (t === '' || t === 'max') return undefined;
  const n = Number(t);
  return Number.isFinite(n) && n < unlimited ? n : undefined;
}

/** "key value" lines (memory.stat, cpu.stat) as a map. */
function keyed(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    const [key, value] = line.split(' ');
    if (key !== undefined && value !== undefined) out.set(key, Number(value));
  }
  return out;
}

/**
 * `usage` less the inactive file cache, by docker's rule: v1's total_inactive_file when
 * there is one below the usage, else inactive_file (v2's name) when below it, else `usage`.
 */
function withoutInactive(usage: number, stat: ReadonlyMap<string, number>): number {
  const total = stat.get('total_inactive_file');
  if (total !== undefined && total < usage) return usage - total;
  const inactive = stat.get('inactive_file') ?? 0;
  return inactive < usage ? usage - inactive : usage;
}

/** Reads the container's usage now. */
export function readStats(map: ControllerMap): CgroupStats {
  let cpuNanos = 0;
  const cpuacct = map.v1('cpuacct');
  if (cpuacct !== undefined) cpuNanos = num(readControl(join(cpuacct.dir, 'cpuacct.usage'))) ?? 0;
  else {
    const v2 = map.leaves.find((l) => l.version === 2);
    if (v2 !== undefined) cpuNanos = (keyed(readControl(join(v2.dir, 'cpu.stat'))).get('usage_usec') ?? 0) * 1000;
  }

  let memoryUsage = 0;
  let memoryLimit: number | undefined;
  const memory1 = map.v1('memory');
  const memory2 = memory1 === undefined ? map.v2('memory') : undefined;
  if (memory1 !== undefined) {
    const stat = keyed(readControl(join(memory1.dir, 'memory.stat')));
    memoryUsage = withoutInactive(num(readControl(join(memory1.dir, 'memory.usage_in_bytes'))) ?? 0, stat);
    memoryLimit = num(readControl(join(memory1.dir, 'memory.limit_in_bytes')));
  } else if (memory2 !== undefined) {
    const stat = keyed(readControl(join(memory2.dir, 'memory.stat')));
    memoryUsage = withoutInactive(num(readControl(join(memory2.dir, 'memory.current'))) ?? 0, stat);
    memoryLimit = num(readControl(join(memory2.dir, 'memory.max')));
  }

  let blockRead = 0;
  let blockWrite = 0;
  const blkio = map.v1('blkio');
  const io = blkio === undefined ? map.v2('io') : undefined;
  if (blkio !== undefined) {
    // "8:0 Read 4096" lines per device, and a "Total" line.
    for (const line of readControl(join(blkio.dir, 'blkio.throttle.io_service_bytes_recursive')).split('\n')) {
      const [, op, value] = line.split(' ');
      if (op === 'Read') blockRead += Number(value);
      else if (op === 'Write') blockWrite += Number(value);
    }
  } else if (io !== undefined) {
    // "8:0 rbytes=4096 wbytes=0 rios=1 ..." per device.
    for (const line of readControl(join(io.dir, 'io.stat')).split('\n')) {
      blockRead += Number(/\brbytes=(\d+)/.exec(line)?.[1] ?? 0);
      blockWrite += Number(/\bwbytes=(\d+)/.exec(line)?.[1] ?? 0);
    }
  }

  let pids = 0;
  let pidsLimit: number | undefined;
  const pidsLeaf = map.v1('pids') ?? map.v2('pids');
  if (pidsLeaf !== undefined) {
    pids = num(readControl(join(pidsLeaf.dir, 'pids.current'))) ?? 0;
    pidsLimit = num(readControl(join(pidsLeaf.dir, 'pids.max')));
  }
  return { cpuNanos, memoryUsage, memoryLimit, blockRead, blockWrite, pids, pidsLimit };
}
