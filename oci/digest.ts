/**
 * Digests as the OCI image spec defines them (image-spec descriptor.md "Digests"):
 * `algorithm ":" encoded`. berth accepts the registered algorithms sha256 and sha512,
 * whose encoded part MUST be lower-case hex of the exact length ("Registered Algorithms").
 * A parsed {@link Digest} is safe to use as a path component.
 */

/** A validated digest string, e.g. `sha256:e3b0…`. */
export type Digest = string & { readonly __brand: 'Digest' };

/** Digest algorithms berth supports, with their hex length. */
export const digestAlgorithms = { sha256: 64, sha512: 128 } as const;
export type DigestAlgorithm = keyof typeof digestAlgorithms;

/** Why a digest string was rejected, or undefined when it is valid. */
export function digestProblem(value: string): string | undefined {
  const colon = value.indexOf(':');
  if (colon <= 0) return 'it has no "algorithm:" prefix';
  const algorithm = value.slice(0, colon);
  const encoded = value.slice(colon + 1);
  if (!Object.hasOwn(digestAlgorithms, algorithm)) return `the algorithm "${algorithm}" is not supported (use sha256 or sha512)`;
  const length = digestAlgorithms[algorithm as DigestAlgorithm];
  if (!/^[0-9a-f]*$/.test(encoded)) return 'its encoded part is not lower-case hex';
  if (encoded.length !== length) return `its encoded part has ${encoded.length} characters, ${algorithm} needs ${length}`;
  return undefined;
}

/** True when `value` is a valid digest. */
export function isDigest(value: unknown): value is Digest {
  return typeof value === 'string' && digestProblem(value) === undefined;
}

/** The algorithm part of a valid digest. */
export function digestAlgorithm(digest: Digest): DigestAlgorithm {
  return digest.slice(0, digest.indexOf(':')) as DigestAlgorithm;
}

/** The hex part of a valid digest. */
export function digestHex(digest: Digest): string {
  return digest.slice(digest.indexOf(':') + 1);
}
