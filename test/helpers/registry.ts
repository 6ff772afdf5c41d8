/**
 * A real registry for tests: Debian's `docker-registry` (distribution 2.8) on 127.0.0.1, a
 * free port, storage in a fresh temp dir, deletes enabled, and no auth, htpasswd or
 * bearer tokens from {@link startTokenServer}. Images get in through skopeo (see
 * push.ts), the independent implementation berth is checked against.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { makeTempDir, removeDir, runText } from './exec.js';
import { startTokenServer, type Credentials, type TokenServer, type TokenServerOptions } from './token-server.js';

export type { Credentials } from './token-server.js';

/** How the registry authenticates clients. */
export type RegistryAuth = 'none' | 'htpasswd' | 'token';

/** Options for {@link startRegistry}. */
export interface RegistryOptions {
  /** Default `none`. */
  readonly auth?: RegistryAuth;
  /** Users for htpasswd or the token server; default one, {@link defaultUser}. */
  readonly users?: readonly Credentials[];
  /** Token mode: the token server's options (users come from `users`). */
  readonly token?: Omit<TokenServerOptions, 'users' | 'dir'>;
  /** Milliseconds to wait for `/v2/` to answer; default 15 s. */
  readonly startTimeoutMs?: number;
}

/**
 * A running registry. Lifecycle: {@link startRegistry} resolves once `/v2/` answers;
 * `stop()` kills the process (by its pid), stops the token server and removes every file.
 */
export interface TestRegistry {
  /** `127.0.0.1:PORT`, for image references. */
  readonly host: string;
  /** `http://127.0.0.1:PORT`. */
  readonly url: string;
  readonly auth: RegistryAuth;
  readonly users: readonly Credentials[];
  /** The token server in token mode. */
  readonly tokenServer: TokenServer | undefined;
  /** The registry's own log (stdout and stderr), for failure messages. */
  readonly logPath: string;
  readonly storageDir: string;
  readonly pid: number;
  readLog(): Promise<string>;
  stop(): Promise<void>;
}

/** The user {@link startRegistry} creates when none are given. */
export const defaultUser: Credentials = { username: 'berth', password: 'berth-test-password' };

/** A port that was free a moment ago on 127.0.0.1 (bind port 0, read it, close). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('Cannot find a free port: no address');
  return address.port;
}

/** Starts a registry; see {@link TestRegistry}. Retries with another port on a collision. */
export async function startRegistry(options: RegistryOptions = {}): Promise<TestRegistry> {
  const auth = options.auth ?? 'none';
  const users = options.users ?? [defaultUser];
  const dir = await makeTempDir('registry');
  let tokenServer: TokenServer | undefined;
  try {
    const storageDir = join(dir, 'storage');
    await mkdir(storageDir);
    let authYaml = '';
    if (auth === 'htpasswd') authYaml = await htpasswdConfig(dir, users);
    if (auth === 'token') {
      tokenServer = await startTokenServer({ ...options.token, users, dir });
      authYaml = [
        'auth:',
        '  token:',
        `    realm: ${JSON.stringify(tokenServer.realm)}`,
        `    service: ${JSON.stringify(tokenServer.service)}`,
        `    issuer: ${JSON.stringify(tokenServer.issuer)}`,
        `    rootcertbundle: ${JSON.stringify(tokenServer.certificatePath)}`,
      ].join('\n');
    }
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const logPath = join(dir, `registry-${attempt}.log`);
      const configPath = join(dir, 'config.yml');
      await writeFile(configPath, registryConfig(port, storageDir, authYaml));
      const started = await launch(configPath, logPath, port, options.startTimeoutMs ?? 15_000);
      if (started.kind === 'collision') {
        if (attempt < 5) continue;
        throw new Error(`docker-registry did not start: port collisions 5 times\n${await tail(logPath)}`);
      }
      if (started.kind === 'failed') throw new Error(`docker-registry did not start: ${started.reason}\n${await tail(logPath)}`);
      return registryHandle({ dir, port, auth, users, tokenServer, logPath, storageDir, child: started.child });
    }
  } catch (err) {
    await tokenServer?.stop();
    await removeDir(dir);
    throw err;
  }
}

/** distribution's configuration.md; JSON strings are valid YAML scalars. */
function registryConfig(port: number, storageDir: string, authYaml: string): string {
  return [
    'version: 0.1',
    'log:',
    '  level: info',
    '  accesslog:',
    '    disabled: false',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${JSON.stringify(storageDir)}`,
    '  delete:',
    '    enabled: true',
    '  maintenance:',
    '    uploadpurging:',
    '      enabled: false',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    authYaml,
    '',
  ].join('\n');
}

async function htpasswdConfig(dir: string, users: readonly Credentials[]): Promise<string> {
  const lines: string[] = [];
  for (const user of users) lines.push((await runText('htpasswd', ['-Bbn', user.username, user.password])).trim());
  const path = join(dir, 'htpasswd');
  await writeFile(path, `${lines.join('\n')}\n`);
  return ['auth:', '  htpasswd:', '    realm: berth-test-registry', `    path: ${JSON.stringify(path)}`].join('\n');
}

type LaunchResult = { kind: 'ready'; child: ChildProcess } | { kind: 'collision' } | { kind: 'failed'; reason: string };

async function launch(configPath: string, logPath: string, port: number, timeoutMs: number): Promise<LaunchResult> {
  const log = createWriteStream(logPath);
  await new Promise((resolve) => log.once('open', resolve));
  const child = spawn('docker-registry', ['serve', configPath], { stdio: ['ignore', log, log] });
  let exited = false;
  let spawnError: Error | undefined;
  child.once('exit', () => (exited = true));
  child.once('error', (err) => (spawnError = err));
  child.once('close', () => log.end());
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (spawnError !== undefined) return { kind: 'failed', reason: spawnError.message };
    if (exited) {
      const text = await readFile(logPath, 'utf8').catch(() => '');
      return text.includes('address already in use') ? { kind: 'collision' } : { kind: 'failed', reason: `it exited with ${String(child.exitCode)}` };
    }
    // Any HTTP answer (200, or 401 with auth) means the registry is serving.
    const answered = await fetch(`http://127.0.0.1:${port}/v2/`).then(
      async (res) => {
        await res.body?.cancel();
        return true;
      },
      () => false,
    );
    if (answered) return { kind: 'ready', child };
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await killChild(child);
  return { kind: 'failed', reason: `/v2/ did not answer within ${timeoutMs} ms` };
}

/** SIGTERM to this pid only, SIGKILL after 5 s, and wait for the exit. */
async function killChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

async function tail(path: string): Promise<string> {
  const text = await readFile(path, 'utf8').catch(() => '');
  return text.split('\n').slice(-30).join('\n');
}

function registryHandle(parts: {
  dir: string;
  port: number;
  auth: RegistryAuth;
  users: readonly Credentials[];
  tokenServer: TokenServer | undefined;
  logPath: string;
  storageDir: string;
  child: ChildProcess;
}): TestRegistry {
  let stopped: Promise<void> | undefined;
  // If the test process ends without stop() (a crash, a hook timeout), take this registry
  // along: SIGKILL to its pid only, and its files (exit handlers cannot wait, hence rmSync).
  const onExit = (): void => {
    if (parts.child.exitCode === null && parts.child.signalCode === null) parts.child.kill('SIGKILL');
    rmSync(parts.dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  return {
    host: `127.0.0.1:${parts.port}`,
    url: `http://127.0.0.1:${parts.port}`,
    auth: parts.auth,
    users: parts.users,
    tokenServer: parts.tokenServer,
    logPath: parts.logPath,
    storageDir: parts.storageDir,
    pid: parts.child.pid ?? -1,
    readLog: () => readFile(parts.logPath, 'utf8'),
    stop: () => {
      stopped ??= (async () => {
        try {
          await killChild(parts.child);
          process.removeListener('exit', onExit);
          await parts.tokenServer?.stop();
        } finally {
          await removeDir(parts.dir);
        }
      })();
      return stopped;
    },
  };
}
