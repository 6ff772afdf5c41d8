/**
 * Parsing and computing digests for the rest of berth: {@link parseDigest} turns user or
 * registry input into a validated {@link Digest} or a clear error, and {@link DigestCounter}
 * hashes and counts bytes as they stream past.
 */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { digestAlgorithm, digestProblem, type Digest } from '../oci/index.js';
import { InvalidArgumentError, InvalidContentError } from './errors.js';

/** Validates `value` as a digest; `what` names it in the error ("digest", "layer digest"). */
export function parseDigest(value: string, what = 'digest'): Digest {
  const problem = digestProblem(value);
  if (problem !== undefined) {
    throw new InvalidArgumentError(`Invalid ${what} "${value}": ${problem}`, {
      hint: 'A digest looks like "sha256:" followed by 64 lower-case hex digits',
    });
  }
  return value as Digest;
}

/** The sha256 digest of `data`. */
export function sha256Of(data: Buffer | string): Digest {
  return `sha256:${createHash('sha256').update(data).digest('hex')}` as Digest;
}

/** Options for {@link DigestCounter}. */
export interface DigestCounterOptions {
  /** Algorithm of the digest to compute (default sha256). */
  readonly algorithm?: string;
  /** When set, the stream fails as soon as more bytes than this pass (a blob longer than declared). */
  readonly maxBytes?: number | undefined;
  /** Names the content in errors, e.g. `layer sha256:ab…`. */
  readonly what: string;
  /** Called with each chunk's length, for progress. */
  readonly onBytes?: ((n: number) => void) | undefined;
}

/**
 * A pass-through Transform that hashes and counts what flows through it. After the stream
 * ends, {@link digest} and {@link bytes} hold the results; {@link verify} checks them.
 */
export class DigestCounter extends Transform {
  readonly #hash: Hash;
  readonly #options: DigestCounterOptions;
  #bytes = 0;
  #digest: Digest | undefined;

  constructor(options: DigestCounterOptions) {
    super({ highWaterMark: 1 << 20 });
    this.#options = options;
    this.#hash = createHash(options.algorithm ?? 'sha256');
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    const max = this.#options.maxBytes;
    if (max !== undefined && this.#bytes > max) {
      callback(new InvalidContentError(`Cannot verify ${this.#options.what}: it is longer than the declared ${max} bytes`, {
        hint: 'The registry sent more data than the manifest declares; the image or the registry is corrupt',
      }));
      return;
    }
    this.#hash.update(chunk);
    this.#options.onBytes?.(chunk.length);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.#digest = `${this.#options.algorithm ?? 'sha256'}:${this.#hash.digest('hex')}` as Digest;
    callback();
  }

  /** Bytes seen so far. */
  get bytes(): number {
    return this.#bytes;
  }

  /** The digest, once the stream has ended. */
  get digest(): Digest | undefined {
    return this.#digest;
  }

  /** Throws InvalidContentError unless the stream ended with exactly `size` bytes hashing to `digest`. */
  verify(expected: { digest: Digest; size?: number | undefined }): void {
    const what = this.#options.what;
    if (expected.size !== undefined && this.#bytes !== expected.size) {
      throw new InvalidContentError(`Cannot verify ${what}: got ${this.#bytes} bytes, expected ${expected.size}`, {
        hint: 'The download was truncated or the registry is corrupt; pull again',
      });
    }
    if (this.#digest === undefined) throw new InvalidContentError(`Cannot verify ${what}: the stream did not end`);
    if (this.#digest !== expected.digest) {
      throw new InvalidContentError(`Cannot verify ${what}: its digest is "${this.#digest}", expected "${expected.digest}"`, {
        hint: 'The content does not match its digest; the registry or the image is corrupt',
      });
    }
  }
}

/** The algorithm name for node:crypto of a digest. */
export function hashAlgorithmOf(digest: Digest): string {
  return digestAlgorithm(digest);
}
