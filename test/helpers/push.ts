/**
 * Getting fixture images into a test registry and looking at what it serves, through
 * skopeo (the independent implementation). Docker schema 2 manifests and manifest lists
 * come from `skopeo copy --format v2s2`, which converts OCI manifests and indexes
 * (containers/image copy/multiple.go converts the list along with its instances).
 */
import { createHash } from 'node:crypto';
import { runText } from './exec.js';
import type { Credentials } from './token-server.js';

/** Options for {@link pushLayout}. */
export interface PushOptions {
  /** `v2s2` converts to Docker schema 2 (gzip layers only); default `oci`, bytes as in the layout. */
  readonly format?: 'oci' | 'v2s2';
  /** Copy every image of an index (`--all`); without it skopeo picks the host platform. */
  readonly all?: boolean;
  /** Credentials for htpasswd or token registries. */
  readonly credentials?: Credentials;
}

/** Flags that keep skopeo away from the host's policy, auth files and TLS. */
function commonFlags(credentials: Credentials | undefined, side: 'src' | 'dest' | ''): string[] {
  const prefix = side === '' ? '' : `${side}-`;
  const flags = [`--${prefix}tls-verify=false`];
  flags.push(credentials === undefined ? `--${prefix}no-creds` : `--${prefix}creds=${credentials.username}:${credentials.password}`);
  return flags;
}

/**
 * Pushes `oci:LAYOUT:TAG` to `HOST/NAME:TAG` with
 * `skopeo copy --dest-tls-verify=false [--all] [--format v2s2] oci:DIR:TAG docker://HOST/NAME:TAG`.
 * Returns the digest of the manifest (or index) as pushed, which `--format v2s2` changes.
 */
export async function pushLayout(layoutDir: string, registryHost: string, name: string, tag: string, options: PushOptions = {}): Promise<string> {
  const args = ['--insecure-policy', 'copy', '--quiet', ...commonFlags(options.credentials, 'dest')];
  if (options.all === true) args.push('--all');
  // Without a format, the layout's bytes must arrive unchanged: make skopeo fail rather than convert.
  args.push(...(options.format === 'v2s2' ? ['--format', 'v2s2'] : ['--preserve-digests']));
  args.push(`oci:${layoutDir}:${tag}`, `docker://${registryHost}/${name}:${tag}`);
  await runText('skopeo', args);
  const raw = await skopeoInspectRaw(`${registryHost}/${name}:${tag}`, options.credentials);
  return raw.digest;
}

/** What `skopeo inspect --raw` returned, with the digest of those bytes. */
export interface RawManifest {
  readonly bytes: Buffer;
  readonly digest: string;
  /** The parsed document (registry JSON: check it before use). */
  readonly json: unknown;
  readonly mediaType: string | undefined;
}

/** `skopeo inspect --raw docker://REF`: the manifest or index bytes as the registry serves them. */
export async function skopeoInspectRaw(reference: string, credentials?: Credentials): Promise<RawManifest> {
  const text = await runText('skopeo', ['--insecure-policy', 'inspect', '--raw', ...commonFlags(credentials, ''), `docker://${reference}`]);
  const bytes = Buffer.from(text, 'utf8');
  const json: unknown = JSON.parse(text);
  const mediaType = typeof json === 'object' && json !== null && 'mediaType' in json && typeof json.mediaType === 'string' ? json.mediaType : undefined;
  return { bytes, digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`, json, mediaType };
}

/** `skopeo inspect docker://REF` (the host platform's image config summary). */
export async function skopeoInspect(reference: string, credentials?: Credentials): Promise<unknown> {
  return JSON.parse(await runText('skopeo', ['--insecure-policy', 'inspect', ...commonFlags(credentials, ''), `docker://${reference}`])) as unknown;
}

/** Where {@link seedRegistry} put each fixture: `fixtures/<ref>:<ref>`, and Docker variants. */
export type SeededImages = Record<string, { readonly reference: string; readonly digest: string }>;

/**
 * Pushes fixture refs of an OCI layout (e.g. from `writeFixtureLayout`) as
 * `HOST/fixtures/<ref>:<ref>`, indexes with `--all`; `docker` refs are also pushed as
 * `HOST/fixtures/<ref>-v2s2:<ref>` in Docker schema 2 form (gzip fixtures only).
 */
export async function seedRegistry(
  registry: { readonly host: string },
  layoutDir: string,
  options: { refs: readonly string[]; indexRefs?: readonly string[]; docker?: readonly string[]; credentials?: Credentials },
): Promise<SeededImages> {
  const seeded: SeededImages = {};
  const creds = options.credentials === undefined ? {} : { credentials: options.credentials };
  for (const ref of options.refs) {
    const all = options.indexRefs?.includes(ref) === true;
    const digest = await pushLayout(layoutDir, registry.host, `fixtures/${ref}`, ref, { ...creds, all });
    seeded[ref] = { reference: `${registry.host}/fixtures/${ref}:${ref}`, digest };
    if (options.docker?.includes(ref) === true) {
      const v2s2 = await pushLayout(layoutDir, registry.host, `fixtures/${ref}-v2s2`, ref, { ...creds, all, format: 'v2s2' });
      seeded[`${ref}-v2s2`] = { reference: `${registry.host}/fixtures/${ref}-v2s2:${ref}`, digest: v2s2 };
    }
  }
  return seeded;
}
