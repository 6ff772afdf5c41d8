/**
 * Lexical handling of the names a layer tar contains. Nothing here touches the filesystem:
 * it turns an untrusted tar name into a clean path relative to the layer root that cannot
 * climb out of it. Symlinks are handled by the resolver in layer-root.ts.
 */
import { InvalidContentError } from '../../common/errors.js';

/** Matches a path with an empty, `.` or `..` component, or a leading or trailing `/`. */
const needsCleaning = /^\/|\/$|\/\/|(?:^|\/)\.\.?(?:\/|$)/;

/** A whiteout's base-name prefix (image-spec layer.md "Whiteouts"). */
export const whiteoutPrefix = '.wh.';
/** Prefix of whiteout meta files, which are never extracted (containerd: whiteoutMetaPrefix). */
export const whiteoutMetaPrefix = '.wh..wh.';
/** The opaque whiteout marker (image-spec layer.md "Opaque Whiteout"). */
export const opaqueWhiteout = '.wh..wh..opq';

/**
 * Cleans a tar entry name into a path relative to the layer root, with `/` separators and
 * no empty, `.` or `..` components; `''` is the root itself. A leading `/` is dropped and
 * `..` never climbs above the root, as if the name were resolved in a chroot: this is
 * filepath.Clean on a rooted name, as containerd's archive.Apply does before anything else.
 */
export function cleanEntryPath(name: string): string {
  if (name.includes('\0')) throw new InvalidContentError(`Cannot unpack layer: entry name "${printable(name)}" contains a NUL byte`);
  // Fast path for the usual "./usr/bin/" and "usr/bin/env": nothing but a prefix and a suffix to drop.
  const trimmed = name.slice(name.startsWith('./') ? 2 : 0, name.endsWith('/') ? -1 : undefined);
  if (!needsCleaning.test(trimmed)) return trimmed;
  const parts: string[] = [];
  for (const part of name.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') parts.pop();
    else parts.push(part);
  }
  return parts.join('/');
}

/** Splits a clean relative path into its parent (`''` for the root) and base name. */
export function splitPath(path: string): { parent: string; base: string } {
  const slash = path.lastIndexOf('/');
  return slash < 0 ? { parent: '', base: path } : { parent: path.slice(0, slash), base: path.slice(slash + 1) };
}

/** Joins a clean relative directory path and a base name. */
export function joinPath(parent: string, base: string): string {
  return parent === '' ? base : `${parent}/${base}`;
}

/** What a base name means under the whiteout rules of image-spec layer.md "Whiteouts". */
export type WhiteoutKind =
  | { readonly kind: 'none' }
  | { readonly kind: 'opaque' }
  | { readonly kind: 'meta' }
  | { readonly kind: 'whiteout'; readonly name: string };

/**
 * Classifies a base name: a plain name, the opaque marker, another `.wh..wh.` meta file
 * (ignored, as containerd and Docker do) or a whiteout of `name`. Throws
 * InvalidContentError for `.wh.` alone ("implementations SHOULD return an error") and for
 * whiteouts of `.` or `..`, which would name the directory itself or its parent
 * (containerd's validateWhiteout refuses those too).
 */
export function classifyWhiteout(base: string, entryName: string): WhiteoutKind {
  if (!base.startsWith(whiteoutPrefix)) return { kind: 'none' };
  if (base === opaqueWhiteout) return { kind: 'opaque' };
  if (base.startsWith(whiteoutMetaPrefix)) return { kind: 'meta' };
  const name = base.slice(whiteoutPrefix.length);
  if (name === '' || name === '.' || name === '..') {
    throw new InvalidContentError(`Cannot unpack layer: "${printable(entryName)}" is not a valid whiteout`);
  }
  return { kind: 'whiteout', name };
}

/** A name made safe to quote in a message: control characters escaped, length capped. */
export function printable(name: string): string {
  const short = name.length > 200 ? `${name.slice(0, 200)}…` : name;
  return short.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}
