/**
 * Reading a manifest response: bounded in size (Content-Length checked first, then the
 * bytes counted as they stream), verified against the digest asked for, digested always
 * from the bytes (a `Docker-Content-Digest` header is the registry's claim, not proof),
 * and typed from Content-Type or, when that is generic, the document's own `mediaType`.
 */
import { createHash } from 'node:crypto';
import { InvalidContentError } from '../../common/errors.js';
import { digestAlgorithm, isDigest, type Digest, type DigestAlgorithm } from '../../oci/index.js';
import { cancel, headerValue, readLimited, type HttpResponse, type RequestContext } from './http.js';

/** A manifest or index as the registry served it. */
export interface ManifestResult {
  /** Its media type, e.g. `application/vnd.oci.image.index.v1+json`. */
  readonly mediaType: string;
  /** The digest of `bytes`, equal to the digest asked for when fetched by digest. */
  readonly digest: Digest;
  /** The exact bytes served: what the digest covers. */
  readonly bytes: Buffer;
}

/** Content types that say nothing about which manifest type a document is. */
const genericTypes: ReadonlySet<string> = new Set([
  '', 'application/json', 'text/plain', 'application/octet-stream', 'binary/octet-stream',
]);

/**
 * Reads and checks a successful manifest response, consuming its body on every path.
 *
 * @throws InvalidContentError when it is larger than `maxBytes` or does not match `expected`.
 */
export async function readManifest(
  response: HttpResponse, options: { expected: Digest | undefined; maxBytes: number }, context: RequestContext,
): Promise<ManifestResult> {
  const tooLarge = (size: number | undefined): InvalidContentError => new InvalidContentError(
    `${context.operation}: the manifest is ${size === undefined ? 'larger than' : `${size} bytes, more than`} `
      + `the limit of ${options.maxBytes} bytes`,
    { hint: 'Image manifests are small JSON documents; check that the reference names an image' },
  );
  const declared = Number(headerValue(response.headers, 'content-length') ?? Number.NaN);
  if (Number.isFinite(declared) && declared > options.maxBytes) {
    cancel(response.body);
    throw tooLarge(declared);
  }
  const bytes = await readLimited(response, options.maxBytes, context);
  if (bytes === undefined) throw tooLarge(undefined);
  const digest = computeDigest(options.expected === undefined ? 'sha256' : digestAlgorithm(options.expected), bytes);
  if (options.expected !== undefined && digest !== options.expected) {
    throw new InvalidContentError(
      `${context.operation}: the registry sent a manifest whose digest is "${digest}", not "${options.expected}"`,
      { hint: 'The registry or something in between served other content; try again, and report it to the registry operator if it persists' },
    );
  }
  return { mediaType: manifestMediaType(headerValue(response.headers, 'content-type'), bytes), digest, bytes };
}

/** The digest of `bytes` with `algorithm`. */
export function computeDigest(algorithm: DigestAlgorithm, bytes: Buffer): Digest {
  const value = `${algorithm}:${createHash(algorithm).update(bytes).digest('hex')}`;
  if (!isDigest(value)) throw new InvalidContentError(`Cannot compute a ${algorithm} digest`);
  return value;
}

/** Content-Type without parameters, or the document's `mediaType` when Content-Type is generic. */
export function manifestMediaType(contentType: string | undefined, bytes: Buffer): string {
  const type = (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
  if (!genericTypes.has(type)) return type;
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch {
    // Not JSON: the caller's parser will say so; the served type is all there is.
    return type === '' ? 'application/octet-stream' : type;
  }
  if (typeof document === 'object' && document !== null && 'mediaType' in document && typeof document.mediaType === 'string') {
    return document.mediaType;
  }
  return type === '' ? 'application/octet-stream' : type;
}
