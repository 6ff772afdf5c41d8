/**
 * Polling, once: the engine waits for things the kernel or another process does (a
 * container's exit, a monitor going, a process ending, a stop timeout) by looking again,
 * because none of them gives berth a file descriptor to wait on. Every such wait goes
 * through {@link poll}, with a deadline and an AbortSignal, instead of hand-rolled loops.
 */
import { setTimeout as delay } from 'node:timers/promises';

/** How {@link poll} looks. */
export interface PollOptions {
  /** Give up after this many milliseconds (default: never). */
  readonly timeoutMs?: number | undefined;
  /** The first pause between looks, ms (default 5); each pause doubles up to {@link maxDelayMs}. */
  readonly initialDelayMs?: number | undefined;
  /** The longest pause between looks, ms (default 100). */
  readonly maxDelayMs?: number | undefined;
  /** Stops the wait: poll rejects with the signal's reason. */
  readonly signal?: AbortSignal | undefined;
}

/** What {@link poll} resolves with: the value `check` gave, or `timedOut`. */
export type PollResult<T> = { readonly done: true; readonly value: T } | { readonly done: false; readonly timedOut: true };

/**
 * Calls `check` until it returns something other than undefined, pausing between calls
 * with a growing delay; resolves with that value, or with `timedOut` once `timeoutMs` has
 * passed (`check` runs at least once). Rejects when `signal` aborts or `check` throws.
 */
export async function poll<T>(check: () => T | undefined | Promise<T | undefined>, options: PollOptions = {}): Promise<PollResult<T>> {
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const max = options.maxDelayMs ?? 100;
  for (let pause = options.initialDelayMs ?? 5; ; pause = Math.min(pause * 2, max)) {
    options.signal?.throwIfAborted();
    const value = await check();
    if (value !== undefined) return { done: true, value };
    const left = deadline - Date.now();
    if (left <= 0) return { done: false, timedOut: true };
    try {
      await delay(Math.min(pause, left), undefined, options.signal === undefined ? undefined : { signal: options.signal });
    } catch (err) {
      // timers/promises rejects with its own AbortError: the caller's reason says why.
      options.signal?.throwIfAborted();
      throw err;
    }
  }
}

/** {@link poll} for a condition: true once `condition` held, false when time ran out. */
export async function pollUntil(condition: () => boolean | Promise<boolean>, options: PollOptions = {}): Promise<boolean> {
  const result = await poll(async () => ((await condition()) ? true : undefined), options);
  return result.done;
}
