/**
 * Resource limits of the layer unpacker. A layer comes from a registry, so a hostile one
 * must not be able to exhaust memory, disk or time: every limit below is checked while the
 * tar streams, before the bytes it guards are buffered or written.
 */
import { InvalidArgumentError, LimitExceededError } from '../../common/errors.js';

/**
 * Limits applied to one layer. Each is configurable as `limits.<name>` in berth's
 * config.json (common/config.ts); the defaults fit every real image seen in the wild with a
 * wide margin.
 */
export interface UnpackLimits {
  /** Tar entries in one layer (whiteouts and ignored entries included). */
  readonly maxEntries: number;
  /** Bytes of one PAX extended header (per-entry `x` or global `g`). */
  readonly maxPaxHeaderBytes: number;
  /**
   * Bytes of the uncompressed tar stream: bounds what a gzip or zstd bomb can expand to.
   * The tar stream is never smaller than the sum of its file contents.
   */
  readonly maxUnpackedBytes: number;
  /** Bytes of an entry name or link target, as stored in the tar. */
  readonly maxPathBytes: number;
}

/** The limits used when the caller overrides none. */
export const defaultUnpackLimits: UnpackLimits = Object.freeze({
  maxEntries: 1_000_000,
  maxPaxHeaderBytes: 1024 * 1024,
  maxUnpackedBytes: 64 * 1024 ** 3,
  maxPathBytes: 4096,
});

/** The limit names, for messages and validation. */
export type UnpackLimitName = keyof UnpackLimits;

/**
 * Merges `overrides` over {@link defaultUnpackLimits}. Throws InvalidArgumentError when an
 * override is not a positive safe integer.
 */
export function resolveUnpackLimits(overrides: Partial<UnpackLimits> = {}): UnpackLimits {
  const limits: Record<UnpackLimitName, number> = { ...defaultUnpackLimits };
  for (const name of Object.keys(defaultUnpackLimits) as UnpackLimitName[]) {
    const value: unknown = overrides[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value <= 0) {
      throw new InvalidArgumentError(`Invalid unpack limit "limits.${name}": ${String(value)} is not a positive integer`, {
        hint: `Set "limits.${name}" in berth's config.json to a positive integer`,
      });
    }
    limits[name] = value;
  }
  return limits;
}

/**
 * The error for an exceeded limit: says what was exceeded, the limit's value and config
 * key, and how to raise it.
 */
export function limitExceeded(name: UnpackLimitName, value: number, what: string): LimitExceededError {
  return new LimitExceededError(`Cannot unpack layer: ${what} exceeds limits.${name} (${value})`, {
    hint: `If the image is trusted, raise "limits.${name}" in berth's config.json`,
  });
}
