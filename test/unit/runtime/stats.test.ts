import { describe, expect, it } from 'vitest';
import { statsUsage, type ContainerStats } from '../../../runtime/index.js';

const started = Date.parse('2024-01-01T00:00:00Z');
const view = { record: { startedAt: '2024-01-01T00:00:00Z' } } as Parameters<typeof statsUsage>[0];

function sample(read: number, cpuNanos: number, memory: { usage?: number; limit?: number } = {}): ContainerStats {
  return {
    cpuNanos, memoryUsage: memory.usage ?? 0, memoryLimit: memory.limit, blockRead: 0, blockWrite: 0, pids: 1, pidsLimit: undefined, netRx: 0, netTx: 0, read,
  };
}

describe('statsUsage', () => {
  it('gives CPU % since the last sample, and since the start without one', () => {
    const before = sample(started + 1000, 100_000_000);
    const now = sample(started + 2000, 600_000_000);
    expect(statsUsage(view, now, { before, hostMemory: 1, cpus: 4 }).cpuPercent).toBeCloseTo(50);
    expect(statsUsage(view, now, { hostMemory: 1, cpus: 4 }).cpuPercent).toBeCloseTo(30);
  });

  it('keeps CPU % between 0 and 100 per CPU', () => {
    const now = sample(started + 1000, 8_000_000_000);
    expect(statsUsage(view, now, { hostMemory: 1, cpus: 2 }).cpuPercent).toBe(200);
    expect(statsUsage(view, sample(started + 2000, 0), { before: sample(started + 1000, 5), hostMemory: 1, cpus: 2 }).cpuPercent).toBe(0);
    expect(statsUsage(view, sample(started + 1000, 5), { before: sample(started + 1000, 0), hostMemory: 1, cpus: 2 }).cpuPercent).toBeGreaterThan(0);
  });

  it('measures memory against the limit, or the host\'s memory without one', () => {
    expect(statsUsage(view, sample(started, 0, { usage: 25, limit: 100 }), { hostMemory: 1000, cpus: 1 })).toMatchObject({ memoryLimit: 100, memoryPercent: 25 });
    expect(statsUsage(view, sample(started, 0, { usage: 25 }), { hostMemory: 1000, cpus: 1 })).toMatchObject({ memoryLimit: 1000, memoryPercent: 2.5 });
    expect(statsUsage(view, sample(started, 0, { usage: 25 }), { hostMemory: 0, cpus: 1 }).memoryPercent).toBe(0);
  });
});
