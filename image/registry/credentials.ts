/**
 * Registry credentials in docker's config.json format (docker/cli cli/config/configfile):
 * `{"auths": {"<key>": {"auth": base64("user:password")}}}`. berth reads and writes its own
 * file (`berth login` / `logout`) and falls back, read-only, to docker's
 * `~/.docker/config.json`, so a `docker login` works for berth too. Docker Hub's key is
 * "https://index.docker.io/v1/"; other keys are "host[:port]", possibly with a scheme and
 * path, matched by host as docker's `ConvertToHostname` does. Credential helpers
 * (`credsStore`, `credHelpers`) are not supported.
 */
import { randomBytes } from 'node:crypto';
import { open, readFile, rename, rm } from 'node:fs/promises';
import { dirname } from 'node:path';
import { FailedPreconditionError, InvalidContentError, isErrnoError } from '../../common/errors.js';
import { makeDirectory } from '../../common/fs.js';
import type { CredentialProvider, Credentials } from './auth.js';

/** Where a {@link CredentialStore} keeps and finds credentials. */
export interface CredentialStoreOptions {
  /** berth's own auth file, read and written (e.g. `~/.config/berth/auth.json`). */
  readonly path: string;
  /** docker's config.json, read only; undefined: no fallback. */
  readonly dockerConfigPath?: string | undefined;
}

/** docker/cli registry.IndexServer: the key Docker Hub credentials are stored under. */
export const dockerHubAuthKey = 'https://index.docker.io/v1/';

const dockerHubHosts: ReadonlySet<string> = new Set(['docker.io', 'index.docker.io', 'registry-1.docker.io']);

interface AuthFile {
  /** Every top-level field, kept as is when the file is rewritten. */
  readonly document: Record<string, unknown>;
  readonly auths: Record<string, unknown>;
}

/**
 * Credentials per registry domain. Writes are atomic (temp file, then rename) with mode
 * 0600; concurrent writers do not corrupt the file, the last one wins.
 */
export class CredentialStore implements CredentialProvider {
  readonly #path: string;
  readonly #dockerConfigPath: string | undefined;

  constructor(options: CredentialStoreOptions) {
    this.#path = options.path;
    this.#dockerConfigPath = options.dockerConfigPath;
  }

  /**
   * The credentials for a registry domain: berth's file first, then docker's.
   *
   * @throws InvalidContentError when a file is not valid JSON or an entry is malformed.
   * @throws FailedPreconditionError when a file exists but cannot be read.
   */
  async get(domain: string): Promise<Credentials | undefined> {
    for (const path of [this.#path, this.#dockerConfigPath]) {
      if (path === undefined) continue;
      const file = await readAuthFile(path);
      if (file === undefined) continue;
      const found = findEntry(file.auths, domain);
      const credentials = found === undefined ? undefined : decodeEntry(found.value, path, found.key);
      if (credentials !== undefined) return credentials;
    }
    return undefined;
  }

  /**
   * Stores credentials for a registry domain in berth's file, replacing any for the same host.
   *
   * @throws InvalidContentError when berth's file exists but is malformed.
   * @throws FailedPreconditionError when it cannot be written.
   */
  async set(domain: string, username: string, password: string): Promise<void> {
    const file = (await readAuthFile(this.#path)) ?? { document: {}, auths: {} };
    const auths = withoutHost(file.auths, domain);
    auths[authKey(domain)] = { auth: Buffer.from(`${username}:${password}`, 'utf8').toString('base64') };
    await writeAtomic(this.#path, { ...file.document, auths });
  }

  /**
   * Removes the credentials of a registry domain from berth's file (docker's is never
   * changed); true when there were some.
   *
   * @throws InvalidContentError when berth's file is malformed; FailedPreconditionError when it cannot be written.
   */
  async remove(domain: string): Promise<boolean> {
    const file = await readAuthFile(this.#path);
    if (file === undefined) return false;
    const auths = withoutHost(file.auths, domain);
    if (Object.keys(auths).length === Object.keys(file.auths).length) return false;
    await writeAtomic(this.#path, { ...file.document, auths });
    return true;
  }
}

/** The key docker writes for a domain: Docker Hub's legacy URL, else the domain itself. */
export function authKey(domain: string): string {
  return dockerHubHosts.has(normalizeHost(domain)) ? dockerHubAuthKey : domain;
}

/** docker/cli `ConvertToHostname`, lower-cased, with Docker Hub's aliases folded to "docker.io". */
function normalizeHost(key: string): string {
  const host = key.replace(/^[a-z][a-z0-9+.-]*:\/\//i, '').split('/')[0] ?? '';
  const lower = host.toLowerCase();
  return dockerHubHosts.has(lower) ? 'docker.io' : lower;
}

function findEntry(auths: Record<string, unknown>, domain: string): { key: string; value: unknown } | undefined {
  const exact = authKey(domain);
  if (Object.hasOwn(auths, exact)) return { key: exact, value: auths[exact] };
  const host = normalizeHost(domain);
  const key = Object.keys(auths).find((k) => normalizeHost(k) === host);
  return key === undefined ? undefined : { key, value: auths[key] };
}

function withoutHost(auths: Record<string, unknown>, domain: string): Record<string, unknown> {
  const host = normalizeHost(domain);
  return Object.fromEntries(Object.entries(auths).filter(([key]) => normalizeHost(key) !== host));
}

/** Reads an auth file; undefined when it does not exist. */
async function readAuthFile(path: string): Promise<AuthFile | undefined> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return undefined;
    throw new FailedPreconditionError(`Cannot read the credentials file "${path}": ${errorText(err)}`, {
      cause: err,
      hint: 'Check its permissions',
    });
  }
  return parseAuthFile(text, path);
}

/** Parses docker's config.json shape, keeping every field. */
export function parseAuthFile(text: string, path: string): AuthFile {
  const malformed = (why: string, cause?: unknown): InvalidContentError => new InvalidContentError(
    `Cannot read the credentials file "${path}": ${why}`,
    { cause, hint: `Fix the file, or remove it and log in again with "berth login"` },
  );
  let document: unknown;
  try {
    document = text.trim() === '' ? {} : JSON.parse(text);
  } catch (err) {
    throw malformed('it is not valid JSON', err);
  }
  if (!isRecord(document)) throw malformed('it is not a JSON object');
  const auths = document['auths'] ?? {};
  if (!isRecord(auths)) throw malformed('its "auths" field is not an object');
  return { document, auths };
}

/** An `auths` entry: `auth` (base64 "user:password") or `username` and `password` (podman). */
function decodeEntry(value: unknown, path: string, key: string): Credentials | undefined {
  const malformed = (why: string): InvalidContentError => new InvalidContentError(
    `Cannot read the credentials for "${key}" in "${path}": ${why}`,
    { hint: `Log in again with "berth login ${normalizeHost(key)}"` },
  );
  if (!isRecord(value)) throw malformed('the entry is not an object');
  const { auth, username, password } = value;
  if (typeof auth === 'string' && auth !== '') {
    const decoded = Buffer.from(auth, 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    if (colon <= 0) throw malformed('its "auth" field is not base64 of "user:password"');
    return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
  }
  if (typeof username === 'string' && username !== '' && typeof password === 'string') return { username, password };
  // An entry without secrets: docker writes these when a credential helper holds them.
  return undefined;
}

async function writeAtomic(path: string, document: Record<string, unknown>): Promise<void> {
  await makeDirectory(dirname(path), 0o700);
  const tmp = `${path}.tmp-${process.pid}-${randomBytes(6).toString('hex')}`;
  try {
    const handle = await open(tmp, 'wx', 0o600);
    try {
      await handle.writeFile(`${JSON.stringify(document, null, '\t')}\n`, 'utf8');
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw new FailedPreconditionError(`Cannot write the credentials file "${path}": ${errorText(err)}`, {
      cause: err,
      hint: 'Check that its directory is writable',
    });
  }
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
