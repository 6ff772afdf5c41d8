/**
 * Tag listing documents (distribution-spec spec.md "Listing Tags"): `{"name", "tags": [...]}`
 * per page, the next page named by a `Link: <url>; rel="next"` header (RFC 8288).
 */
import { InvalidContentError } from '../../common/errors.js';

/**
 * Parses one page of a tag list. Registries answer `"tags": null` for a repository
 * without tags (distribution/distribution does); that is an empty page.
 *
 * @throws InvalidContentError when the page is not a tag list.
 */
export function parseTagList(bytes: Buffer, operation: string): string[] {
  const invalid = (why: string, cause?: unknown): InvalidContentError => new InvalidContentError(
    `${operation}: the registry sent a tag list that ${why}`,
    { cause, hint: 'The registry is misbehaving; report it to its operator' },
  );
  let document: unknown;
  try {
    document = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw invalid('is not JSON', err);
  }
  if (typeof document !== 'object' || document === null || Array.isArray(document)) throw invalid('is not a JSON object');
  const tags: unknown = 'tags' in document ? document.tags : undefined;
  if (tags === undefined || tags === null) return [];
  if (!Array.isArray(tags) || !tags.every((tag): tag is string => typeof tag === 'string')) {
    throw invalid('has a "tags" field that is not a list of strings');
  }
  return tags;
}

/** The `rel="next"` target of a Link header, resolved against the URL that answered. */
export function nextLink(header: string | undefined, base: URL): URL | undefined {
  if (header === undefined) return undefined;
  for (const match of header.matchAll(/<([^>]*)>((?:\s*;\s*[^;,]*)*)/g)) {
    const target = match[1] ?? '';
    const params = match[2] ?? '';
    const isNext = /;\s*rel\s*=\s*"?([^";]*)"?/i.exec(params)?.[1]?.split(/\s+/).includes('next') ?? false;
    if (!isNext) continue;
    try {
      return new URL(target, base);
    } catch {
      return undefined;
    }
  }
  return undefined;
}
