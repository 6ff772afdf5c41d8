/**
 * A token server for distribution's bearer-token auth (distribution docs/spec/auth/token.md,
 * jwt.md, oauth.md), on 127.0.0.1 with a port of its own. It signs ES256 JWTs with a P-256
 * key whose self-signed certificate the registry trusts (`auth.token.rootcertbundle`).
 * distribution 2.8 finds the signing key from the JWT header: `kid` is looked up among the
 * libtrust key IDs of the bundle's certificates (registry/auth/token/accesscontroller.go),
 * `x5c` is verified as a chain up to the bundle (token.go parseAndVerifyCertChain).
 */
import { createHash, createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, removeDir, run } from './exec.js';

/** A user the token server (or htpasswd) accepts. */
export interface Credentials {
  readonly username: string;
  readonly password: string;
}

/** One `access` claim entry (jwt.md "access"). */
export interface ResourceAccess {
  readonly type: string;
  readonly name: string;
  readonly actions: readonly string[];
}

/** A request the token server answered, in arrival order. */
export interface TokenRequest {
  readonly method: 'GET' | 'POST';
  /** `basic` for GET with Authorization, `password`/`refresh_token` for POST grants. */
  readonly auth: 'anonymous' | 'basic' | 'password' | 'refresh_token';
  readonly account: string | undefined;
  readonly service: string | undefined;
  readonly scopes: readonly string[];
  readonly status: number;
  /** What the issued token grants (empty when refused). */
  readonly granted: readonly ResourceAccess[];
  readonly time: Date;
}

/** Options for {@link startTokenServer}. */
export interface TokenServerOptions {
  /** Accepted users; authenticated users get every action they ask for. */
  readonly users?: readonly Credentials[];
  /** Repositories anyone may pull without credentials (exact names or RegExps). */
  readonly publicRepositories?: readonly (string | RegExp)[];
  /** Seconds the client is told a token lives (`expires_in`); default 300. */
  readonly expiresIn?: number;
  /** How the JWT names its key; default `kid`. */
  readonly keyHeader?: 'kid' | 'x5c';
  readonly service?: string;
  readonly issuer?: string;
  /** Directory for the key and certificate; default a temp dir removed by `stop()`. */
  readonly dir?: string;
}

/** A running token server. `stop()` closes it; until then it records every request. */
export interface TokenServer {
  /** The `realm` for the registry: `http://127.0.0.1:PORT/token`. */
  readonly realm: string;
  readonly service: string;
  readonly issuer: string;
  /** PEM certificate for the registry's `rootcertbundle`. */
  readonly certificatePath: string;
  readonly requests: TokenRequest[];
  /** Signs a token directly, e.g. to test expired or foreign tokens. */
  issueToken(subject: string, access: readonly ResourceAccess[], options?: { expiresIn?: number; issuer?: string }): string;
  stop(): Promise<void>;
}

/** Registry actions an authenticated user may be granted. */
const knownActions = new Set(['pull', 'push', 'delete', '*']);

/**
 * The libtrust key ID distribution 2.8 uses for `kid` (docker/libtrust util.go
 * keyIDFromCryptoKey): SHA-256 of the DER SubjectPublicKeyInfo, first 240 bits, base32,
 * in twelve colon-separated groups of four.
 */
export function libtrustKeyId(spkiDer: Buffer): string {
  const hash = createHash('sha256').update(spkiDer).digest().subarray(0, 30);
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const byte of hash) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
    value &= (1 << bits) - 1;
  }
  return (out.match(/.{4}/g) ?? []).join(':');
}

/** Parses a scope string `type:name:actions` (name may itself hold colons). */
export function parseScope(scope: string): ResourceAccess | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  const actions = scope.slice(last + 1).split(',').filter((a) => a !== '');
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions };
}

/** Starts a token server on 127.0.0.1, with a fresh P-256 key and self-signed certificate. */
export async function startTokenServer(options: TokenServerOptions = {}): Promise<TokenServer> {
  const ownDir = options.dir === undefined ? await makeTempDir('token') : undefined;
  const dir = options.dir ?? ownDir ?? '';
  try {
    const keyPath = join(dir, 'token-key.pem');
    const certificatePath = join(dir, 'token-cert.pem');
    await run('openssl', [
      'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes',
      '-keyout', keyPath, '-out', certificatePath, '-days', '3650', '-subj', '/CN=berth test token issuer',
    ]);
    const key = createPrivateKey(await readFile(keyPath));
    const cert = new X509Certificate(await readFile(certificatePath));
    const state = new TokenState(options, key, cert);
    const server = createServer((req, res) => {
      state.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    return {
      realm: `http://127.0.0.1:${port}/token`,
      service: state.service,
      issuer: state.issuer,
      certificatePath,
      requests: state.requests,
      issueToken: (subject, access, issueOptions) => state.sign(subject, access, issueOptions),
      stop: async () => {
        await closeServer(server);
        if (ownDir !== undefined) await removeDir(ownDir);
      },
    };
  } catch (err) {
    if (ownDir !== undefined) await removeDir(ownDir);
    throw err;
  }
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

class TokenState {
  readonly service: string;
  readonly issuer: string;
  readonly requests: TokenRequest[] = [];
  readonly #options: TokenServerOptions;
  readonly #key: KeyObject;
  readonly #header: Record<string, unknown>;
  readonly #refreshTokens = new Map<string, string>();

  constructor(options: TokenServerOptions, key: KeyObject, cert: X509Certificate) {
    this.#options = options;
    this.#key = key;
    this.service = options.service ?? 'berth-test-registry';
    this.issuer = options.issuer ?? 'berth-test-token-server';
    const keyHeader =
      options.keyHeader === 'x5c'
        ? { x5c: [cert.raw.toString('base64')] }
        : { kid: libtrustKeyId(cert.publicKey.export({ type: 'spki', format: 'der' })) };
    this.#header = { typ: 'JWT', alg: 'ES256', ...keyHeader };
  }

  /** A compact JWS (RFC 7515) over the distribution claim set (jwt.md). */
  sign(subject: string, access: readonly ResourceAccess[], options: { expiresIn?: number; issuer?: string } = {}): string {
    const now = Math.floor(Date.now() / 1000);
    // distribution adds 60 s of leeway to exp (token.go Leeway): take it off, so the
    // registry refuses the token when the client was told it expires.
    const exp = now + (options.expiresIn ?? this.#expiresIn()) - 60;
    const claims = {
      iss: options.issuer ?? this.issuer,
      sub: subject,
      aud: this.service,
      exp,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const encode = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode(this.#header)}.${encode(claims)}`;
    // JWS ES256 wants r||s (RFC 7518 §3.4), not DER.
    const signature = sign('sha256', Buffer.from(input), { key: this.#key, dsaEncoding: 'ieee-p1363' });
    return `${input}.${signature.toString('base64url')}`;
  }

  async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (url.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      res.writeHead(404).end();
      return;
    }
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : url.searchParams;
    const scopes = params.getAll('scope').flatMap((s) => s.split(' ')).filter((s) => s !== '');
    const who = this.#authenticate(req, params);
    const base = { method: req.method, auth: who.auth, account: who.account, service: params.get('service') ?? undefined, scopes, time: new Date() } as const;
    if (who.refused) {
      this.requests.push({ ...base, status: 401, granted: [] });
      res.writeHead(401, { 'Content-Type': 'application/json', 'WWW-Authenticate': 'Basic realm="berth-test-token-server"' });
      res.end(JSON.stringify({ errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] }));
      return;
    }
    const granted = scopes.map((s) => parseScope(s)).flatMap((a) => (a === undefined ? [] : [this.#grant(a, who.account)]));
    this.requests.push({ ...base, status: 200, granted });
    const token = this.sign(who.account ?? '', granted);
    const body: Record<string, unknown> = { token, access_token: token, expires_in: this.#expiresIn(), issued_at: new Date().toISOString() };
    // oauth.md: a refresh token for password grants that ask for one with access_type=offline.
    if (who.account !== undefined && (params.get('access_type') === 'offline' || params.get('offline_token') === 'true')) {
      const refresh = randomUUID();
      this.#refreshTokens.set(refresh, who.account);
      body['refresh_token'] = refresh;
    }
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify(body));
  }

  #expiresIn(): number {
    return this.#options.expiresIn ?? 300;
  }

  #authenticate(req: IncomingMessage, params: URLSearchParams): { auth: TokenRequest['auth']; account: string | undefined; refused: boolean } {
    if (req.method === 'POST') {
      const grant = params.get('grant_type');
      if (grant === 'refresh_token') {
        const account = this.#refreshTokens.get(params.get('refresh_token') ?? '');
        return { auth: 'refresh_token', account, refused: account === undefined };
      }
      const username = params.get('username') ?? '';
      return { auth: 'password', account: username, refused: !this.#checkUser(username, params.get('password') ?? '') };
    }
    const header = req.headers.authorization;
    if (header === undefined || !header.toLowerCase().startsWith('basic ')) return { auth: 'anonymous', account: undefined, refused: false };
    const decoded = Buffer.from(header.slice(6).trim(), 'base64').toString('utf8');
    const colon = decoded.indexOf(':');
    const username = colon < 0 ? decoded : decoded.slice(0, colon);
    const password = colon < 0 ? '' : decoded.slice(colon + 1);
    return { auth: 'basic', account: username, refused: !this.#checkUser(username, password) };
  }

  #checkUser(username: string, password: string): boolean {
    return (this.#options.users ?? []).some((u) => u.username === username && u.password === password);
  }

  /** Authenticated users get what they ask for; anonymous users get pull on public repositories. */
  #grant(access: ResourceAccess, account: string | undefined): ResourceAccess {
    if (account !== undefined) return { ...access, actions: access.actions.filter((a) => knownActions.has(a)) };
    const isPublic = access.type === 'repository' && (this.#options.publicRepositories ?? []).some((p) => (typeof p === 'string' ? p === access.name : p.test(access.name)));
    return { ...access, actions: isPublic ? access.actions.filter((a) => a === 'pull') : [] };
  }
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
