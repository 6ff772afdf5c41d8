import { describe, expect, it } from 'vitest';
import { poll, pollUntil } from '../../../common/poll.js';

describe('poll', () => {
  it('resolves with the first value check gives, looking again until then', async () => {
    let calls = 0;
    const result = await poll(() => (++calls === 3 ? 'ready' : undefined), { initialDelayMs: 1 });
    expect(result).toEqual({ done: true, value: 'ready' });
    expect(calls).toBe(3);
  });

  it('gives up after timeoutMs, having looked at least once', async () => {
    let calls = 0;
    const started = Date.now();
    const result = await poll(() => {
      calls++;
      return undefined;
    }, { timeoutMs: 50, initialDelayMs: 5, maxDelayMs: 10 });
    expect(result).toEqual({ done: false, timedOut: true });
    expect(calls).toBeGreaterThan(1);
    expect(Date.now() - started).toBeGreaterThanOrEqual(45);
  });

  it('rejects with the signal\'s reason when aborted while it waits', async () => {
    const controller = new AbortController();
    const waiting = poll(() => undefined, { signal: controller.signal, initialDelayMs: 1000 });
    setTimeout(() => controller.abort(new Error('stop')), 10);
    await expect(waiting).rejects.toThrow('stop');
  });

  it('rejects at once for a signal aborted before it starts, without calling check', async () => {
    let calls = 0;
    await expect(poll(() => ++calls, { signal: AbortSignal.abort(new Error('early')) })).rejects.toThrow('early');
    expect(calls).toBe(0);
  });

  it('passes on what check throws', async () => {
    await expect(poll(() => {
      throw new Error('broken');
    })).rejects.toThrow('broken');
  });

  it('pollUntil says whether the condition held in time', async () => {
    expect(await pollUntil(() => true)).toBe(true);
    expect(await pollUntil(async () => false, { timeoutMs: 20, initialDelayMs: 5 })).toBe(false);
  });
});
