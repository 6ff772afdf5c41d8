/**
 * Parsers for the JSON documents of an image: index (or manifest list), manifest and config.
 * Each takes the raw bytes, as `unknown` JSON, and returns a typed document only after it
 * passed the official schema (oci/schema.ts) and berth's own checks:
 * - a document that is both an index and a manifest is refused (image-spec manifest.md and
 *   image-index.md give each its own required fields; a document with `manifests` and
 *   `layers`/`config` at once is ambiguous and could be read two ways by two tools);
 * - the document's own `mediaType`, when present, must agree with the one it was served
 *   as (distribution-spec "Pulling manifests": the Content-Type must match);
 * - digests must be valid registered-algorithm digests (image-spec descriptor.md "Digests").
 */
import { InvalidContentError } from '../common/errors.js';
import {
  digestProblem, isConfigMediaType, isIndexMediaType, isManifestMediaType, MediaType,
  type Descriptor, type ImageConfig, type ImageIndex, type ImageManifest, type SchemaValidator,
} from '../oci/index.js';

/** The most bytes berth accepts for a manifest, index or config (docker's limit too). */
export const maxDocumentBytes = 4 * 1024 * 1024;

/** A parsed top-level document: an index or a manifest. */
export type ImageDocument =
  | { readonly kind: 'index'; readonly mediaType: string; readonly index: ImageIndex }
  | { readonly kind: 'manifest'; readonly mediaType: string; readonly manifest: ImageManifest };

/** The hint for documents that are not what the image spec says they must be. */
const malformedHint = 'The image is malformed or the registry sent something else; ask its publisher, or check the registry address';

/** An error about a malformed document. */
function malformed(message: string, cause?: unknown): InvalidContentError {
  return new InvalidContentError(message, { hint: malformedHint, cause });
}

function parseJson(bytes: Buffer, what: string): Record<string, unknown> {
  if (bytes.length > maxDocumentBytes) {
    throw malformed(`Cannot read ${what}: it has ${bytes.length} bytes, more than the ${maxDocumentBytes} allowed`);
  }
  let doc: unknown;
  try {
    doc = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw malformed(`Cannot read ${what}: it is not valid JSON`, err);
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw malformed(`Cannot read ${what}: it is not a JSON object`);
  return doc as Record<string, unknown>;
}

function checkSchema(validator: SchemaValidator, name: 'index' | 'manifest' | 'config', doc: unknown, what: string): void {
  const problems = validator.validate(name, doc);
  if (problems !== undefined) throw malformed(`Cannot read ${what}: it is not a valid ${name}: ${problems.slice(0, 5).join('; ')}`);
}

function checkDescriptors(descriptors: readonly Descriptor[], what: string): void {
  for (const d of descriptors) {
    const problem = digestProblem(d.digest);
    if (problem !== undefined) throw malformed(`Cannot read ${what}: invalid digest "${d.digest}": ${problem}`);
  }
}

/**
 * Parses a manifest or index served with `servedType` (the Content-Type; may be empty or
 * generic, then the document's own `mediaType` decides).
 */
export function parseImageDocument(bytes: Buffer, servedType: string, validator: SchemaValidator, what: string): ImageDocument {
  const doc = parseJson(bytes, what);
  const hasManifests = 'manifests' in doc;
  const hasImageFields = 'layers' in doc || 'config' in doc;
  if (hasManifests && hasImageFields) {
    throw malformed(`Cannot read ${what}: it has both "manifests" and "layers"/"config", so it is both an index and a manifest`);
  }
  const own = typeof doc['mediaType'] === 'string' ? doc['mediaType'] : undefined;
  const served = servedType.split(';')[0]?.trim() ?? '';
  const known = (t: string): boolean => isIndexMediaType(t) || isManifestMediaType(t);
  if (own !== undefined && known(served) && own !== served) {
    throw malformed(`Cannot read ${what}: it was served as "${served}" but says it is "${own}"`);
  }
  const mediaType = own ?? (known(served) ? served : hasManifests ? MediaType.ociIndex : MediaType.ociManifest);
  if (isIndexMediaType(mediaType)) {
    if (!hasManifests) throw malformed(`Cannot read ${what}: it is an index without "manifests"`);
    checkSchema(validator, 'index', doc, what);
    const index = doc as unknown as ImageIndex;
    checkDescriptors(index.manifests, what);
    return { kind: 'index', mediaType, index };
  }
  if (isManifestMediaType(mediaType)) {
    checkSchema(validator, 'manifest', doc, what);
    const manifest = doc as unknown as ImageManifest;
    checkDescriptors([manifest.config, ...manifest.layers], what);
    return { kind: 'manifest', mediaType, manifest };
  }
  throw new InvalidContentError(`Cannot read ${what}: its media type "${mediaType}" is not an image manifest or index`, {
    hint: 'berth pulls OCI and Docker schema 2 images; this may be an artifact or a schema 1 image',
  });
}

/** Parses and validates an image config; checks it has one diffID per manifest layer. */
export function parseImageConfig(bytes: Buffer, manifest: ImageManifest, validator: SchemaValidator, what: string): ImageConfig {
  if (!isConfigMediaType(manifest.config.mediaType)) {
    throw new InvalidContentError(`Cannot read ${what}: its media type "${manifest.config.mediaType}" is not an image config`, {
      hint: 'This is an artifact, not a container image',
    });
  }
  const doc = parseJson(bytes, what);
  checkSchema(validator, 'config', doc, what);
  const config = doc as unknown as ImageConfig;
  for (const diffId of config.rootfs.diff_ids) {
    const problem = digestProblem(diffId);
    if (problem !== undefined) throw malformed(`Cannot read ${what}: invalid diffID "${diffId}": ${problem}`);
  }
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw malformed(
      `Cannot read ${what}: it lists ${config.rootfs.diff_ids.length} diffIDs for ${manifest.layers.length} layers`,
    );
  }
  return config;
}
