/**
 * Image references, normalised exactly as docker does (distribution/reference
 * `ParseNormalizedNamed`, `TagNameOnly`, `FamiliarName`, `FamiliarString`):
 *
 * ```
 * reference  := name [ ":" tag ] [ "@" digest ]
 * name       := [ domain "/" ] path-component [ "/" path-component ]*
 * domain     := host [ ":" port ]     host: DNS name or "[" IPv6 "]"
 * path-component := [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
 * tag        := [\w][\w.-]{0,127}
 * ```
 *
 * The first component is a domain when it contains "." or ":", is "localhost", or has an
 * upper-case letter (distribution/reference normalize.go `splitDockerDomain`); otherwise the
 * domain is "docker.io", and a single-component path gets the "library/" prefix.
 */
import { digestProblem, type Digest } from '../oci/index.js';
import { InvalidArgumentError } from '../common/errors.js';

/** A parsed, normalised image reference. Invariant: at least one of tag and digest is set. */
export interface ImageReference {
  /** Registry domain as written (port included), "docker.io" for Docker Hub. */
  readonly domain: string;
  /** Repository path inside the registry, e.g. "library/busybox". */
  readonly path: string;
  /** Tag, kept for display even when a digest is present. */
  readonly tag?: string;
  /** Digest; when present it is what gets fetched. */
  readonly digest?: Digest;
}

/** A repository: the part of a reference that names it (`{domain, path}`). */
export interface RepositoryName {
  readonly domain: string;
  readonly path: string;
}

/** Docker Hub's canonical domain. */
export const defaultDomain = 'docker.io';
/** The tag used when a reference names neither a tag nor a digest. */
export const defaultTag = 'latest';

const legacyDefaultDomain = 'index.docker.io';
const officialRepoPrefix = 'library/';
/** distribution/reference `NameTotalLengthMax`. */
const nameTotalLengthMax = 255;

const domainComponent = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const domainPattern = new RegExp(
  `^(?:${domainComponent}(?:\\.${domainComponent})*|\\[[a-fA-F0-9:]+\\])(?::[0-9]+)?$`,
);
const pathComponent = '[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*';
const pathPattern = new RegExp(`^${pathComponent}(?:/${pathComponent})*$`);
const tagPattern = /^[\w][\w.-]{0,127}$/;
/** distribution/reference `anchoredIdentifierRegexp`: an image ID, never a name. */
const identifierPattern = /^[a-f0-9]{64}$/;

const digestHint = 'A digest is "sha256:" followed by 64 lower-case hex digits';
const referenceHint = 'Give an image such as "busybox", "user/app:1.0" or "registry.example.com:5000/app@sha256:<64 hex digits>"';

function invalid(input: string, why: string, hint: string = referenceHint): InvalidArgumentError {
  return new InvalidArgumentError(`Invalid image reference "${input}": ${why}`, { hint });
}

/** distribution/reference `splitDockerDomain`. */
function splitDomain(name: string): { domain: string; remainder: string } {
  const slash = name.indexOf('/');
  let domain = defaultDomain;
  let remainder = name;
  if (slash !== -1) {
    const first = name.slice(0, slash);
    if (/[.:]/.test(first) || first === 'localhost' || first.toLowerCase() !== first) {
      domain = first;
      remainder = name.slice(slash + 1);
    }
  }
  if (domain === legacyDefaultDomain) domain = defaultDomain;
  if (domain === defaultDomain && !remainder.includes('/')) remainder = officialRepoPrefix + remainder;
  return { domain, remainder };
}

/** Splits `name[:tag][@digest]` into its three parts; the tag colon comes after the last "/". */
function splitParts(input: string): { name: string; tag: string | undefined; digest: string | undefined } {
  const at = input.indexOf('@');
  const beforeDigest = at === -1 ? input : input.slice(0, at);
  const digest = at === -1 ? undefined : input.slice(at + 1);
  const colon = beforeDigest.lastIndexOf(':');
  if (colon === -1 || colon < beforeDigest.lastIndexOf('/')) return { name: beforeDigest, tag: undefined, digest };
  return { name: beforeDigest.slice(0, colon), tag: beforeDigest.slice(colon + 1), digest };
}

function parseDigest(input: string, digest: string): Digest {
  // oci digestProblem is stricter than distribution/reference's digest pattern: only the
  // registered algorithms with exact-length lower-case hex pass (go-digest Validate).
  const problem = digestProblem(digest);
  if (problem !== undefined) {
    throw invalid(input, `the digest "${digest}" is invalid: ${problem}`, digestHint);
  }
  return digest as Digest;
}

function checkName(input: string, name: string, domain: string, path: string): void {
  if (name === '') throw invalid(input, 'the repository name is empty');
  if (path.toLowerCase() !== path) {
    throw invalid(input, `the repository name "${path}" must be lower case`, `Write it in lower case: "${name.toLowerCase()}"`);
  }
  if (!domainPattern.test(domain)) throw invalid(input, `"${domain}" is not a valid registry domain`);
  if (!pathPattern.test(path)) {
    throw invalid(input, `"${path}" is not a valid repository name`,
      'A repository name has "/"-separated components of lower-case letters and digits, joined by ".", "_", "__" or "-"');
  }
  if (domain.length + 1 + path.length > nameTotalLengthMax) {
    throw invalid(input, `the repository name is longer than ${nameTotalLengthMax} characters`);
  }
}

/**
 * Parses and normalises an image reference the way `docker pull` does. When neither a tag
 * nor a digest is given the tag defaults to "latest" (distribution/reference `TagNameOnly`).
 *
 * @throws InvalidArgumentError when the reference is malformed, has an upper-case repository
 *   name, an invalid tag or an invalid digest.
 */
export function parseReference(input: string): ImageReference {
  if (input === '') throw invalid(input, 'it is empty');
  if (identifierPattern.test(input)) {
    throw invalid(input, 'a 64-character hexadecimal string is an image ID, not a repository name',
      'Refer to a local image by ID where an ID is accepted, or give a repository name');
  }
  const parts = splitParts(input);
  const { domain, remainder: path } = splitDomain(parts.name);
  checkName(input, parts.name, domain, path);
  if (parts.tag !== undefined && !tagPattern.test(parts.tag)) {
    throw invalid(input, `the tag "${parts.tag}" is invalid`,
      'A tag has 1 to 128 letters, digits, "_", "." and "-", and does not start with "." or "-"');
  }
  const digest = parts.digest === undefined ? undefined : parseDigest(input, parts.digest);
  const tag = parts.tag ?? (digest === undefined ? defaultTag : undefined);
  return {
    domain,
    path,
    ...(tag === undefined ? {} : { tag }),
    ...(digest === undefined ? {} : { digest }),
  };
}

/** The canonical repository name, e.g. "docker.io/library/busybox". */
export function repositoryName(ref: RepositoryName): string {
  return `${ref.domain}/${ref.path}`;
}

/** The full canonical reference, e.g. "docker.io/library/busybox:latest" or "…@sha256:…". */
export function referenceString(ref: ImageReference): string {
  return repositoryName(ref) + suffix(ref);
}

/**
 * The name as docker prints it (distribution/reference `FamiliarName`): Docker Hub's domain
 * is dropped, and so is "library/" for official images: "busybox", "user/app",
 * "127.0.0.1:5000/x".
 */
export function familiarName(ref: RepositoryName): string {
  if (ref.domain !== defaultDomain) return repositoryName(ref);
  if (ref.path.startsWith(officialRepoPrefix)) {
    const rest = ref.path.slice(officialRepoPrefix.length);
    if (!rest.includes('/')) return rest;
  }
  return ref.path;
}

/** The familiar name with tag and digest (distribution/reference `FamiliarString`), e.g. "busybox:latest". */
export function familiarString(ref: ImageReference): string {
  return familiarName(ref) + suffix(ref);
}

/** What to ask the registry's manifest endpoint for: the digest when there is one, else the tag. */
export function manifestReference(ref: ImageReference): string {
  return ref.digest ?? ref.tag ?? defaultTag;
}

/** The host that serves a registry domain's API: Docker Hub's domain maps to "registry-1.docker.io". */
export function registryHost(domain: string): string {
  return domain === defaultDomain || domain === legacyDefaultDomain ? 'registry-1.docker.io' : domain;
}

/** True when `path` is a valid repository path ("library/busybox"), lower case, without domain. */
export function isValidPath(path: string): boolean {
  return pathPattern.test(path);
}

/** True when `tag` is a valid tag. */
export function isValidTag(tag: string): boolean {
  return tagPattern.test(tag);
}

function suffix(ref: ImageReference): string {
  return (ref.tag === undefined ? '' : `:${ref.tag}`) + (ref.digest === undefined ? '' : `@${ref.digest}`);
}
