/**
 * A harness for container integration tests: one per test file. {@link setUpContainers}
 * builds the probe (test/fixtures/probe/probe.c) statically, writes an OCI layout of
 * busybox (Debian's busybox-static, via `busyboxImage`) plus /probe and an /etc/passwd
 * with root, nobody and app, pushes it with skopeo to a registry of its own, pulls it with
 * berth into a fresh `--root` and tags it {@link probeImage}. `cleanup()` (afterAll)
 * removes every container still listed, stops the registry and removes the temp dirs.
 *
 * Leak checks ({@link ContainerHarness.leftovers}) look only at what this harness made:
 * mounts and processes that name its root, and the cgroup leaves of the ids it saw (it
 * watches `<root>/containers`, so containers run with --rm are known too).
 */
import { spawn } from 'node:child_process';
import { existsSync, watch, type FSWatcher } from 'node:fs';
import { mkdir, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { berth, berthBin, repoRoot, requireBuilt, type BerthResult } from './berth.js';
import { makeTempDir, removeDir, runText } from './exec.js';
import { busyboxImage } from './fixtures.js';
import { writeOciLayout, type ImageSpec } from './oci-layout.js';
import { pushLayout } from './push.js';
import { isolateNetworks, type NetworkSandbox } from './network.js';
import { startRegistry, type TestRegistry } from './registry.js';

/** The local tag of the probe image in every harness's store. */
export const probeImage = 'probe:test';

/** Docker's default capabilities (moby oci/caps/defaults.go) as a CapEff mask. */
export const dockerDefaultCaps = 0x00000000a80425fbn;

/** The cgroup v1 hierarchies and the cgroup2 mount where leaves may appear. */
const cgroupMount = '/sys/fs/cgroup';

const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  'nobody:x:65534:65534:nobody:/nonexistent:/bin/false',
  'app:x:1000:1000:app:/home/app:/bin/sh',
  '',
].join('\n');
const group = ['root:x:0:', 'nogroup:x:65534:', 'app:x:1000:', 'extra:x:2000:app', ''].join('\n');

/** One path as the probe saw it. */
export interface ProbePath {
  readonly exists: boolean;
  readonly dir?: boolean;
  readonly readable?: boolean;
  /** Bytes read (at most 4096) from a file, or entries of a directory. */
  readonly size?: number;
  readonly writable?: boolean;
  readonly readError?: string;
  readonly writeError?: string;
  readonly error?: string;
}

/** One line of the probe's /proc/self/mountinfo. */
export interface ProbeMount {
  readonly target: string;
  readonly fstype: string;
  readonly source: string;
  /** Per-mount options (`ro,nosuid,…`). */
  readonly options: string;
  /** Superblock options. */
  readonly super: string;
}

/** What the probe printed (see probe.c). */
export interface ProbeReport {
  readonly pid: number;
  readonly ppid: number;
  readonly hostname: string;
  readonly uid: number;
  readonly gid: number;
  readonly euid: number;
  readonly egid: number;
  readonly groups: readonly number[];
  readonly cwd: string;
  readonly umask: number;
  /** CapInh, CapPrm, CapEff, CapBnd, CapAmb, NoNewPrivs, Seccomp: /proc/self/status values. */
  readonly status: Readonly<Record<string, string>>;
  readonly fds: readonly { readonly fd: number; readonly target: string }[];
  readonly mounts: readonly ProbeMount[];
  readonly cgroup: readonly string[];
  /** [soft, hard]; -1 is unlimited. */
  readonly rlimits: { readonly nofile: readonly [number, number]; readonly nproc: readonly [number, number] };
  readonly env: readonly string[];
  readonly paths: Readonly<Record<string, ProbePath>>;
}

/** Parses the probe's output; throws with the text when it is not the probe's object. */
export function parseProbe(text: string): ProbeReport {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`The probe printed no JSON: ${JSON.stringify(text.slice(0, 2000))}`, { cause: err });
  }
  const fields = ['pid', 'hostname', 'status', 'fds', 'mounts', 'cgroup', 'rlimits', 'env', 'paths'];
  if (typeof parsed !== 'object' || parsed === null || fields.some((f) => !(f in parsed))) {
    throw new Error(`Not a probe report: ${text.slice(0, 2000)}`);
  }
  return parsed as ProbeReport;
}

/** A capability mask from /proc/self/status (hex). */
export function capMask(report: ProbeReport, field: 'CapInh' | 'CapPrm' | 'CapEff' | 'CapBnd' | 'CapAmb'): bigint {
  const value = report.status[field];
  if (value === undefined) throw new Error(`The probe saw no ${field}`);
  return BigInt(`0x${value}`);
}

/** Options of one berth call. */
export interface CallOptions {
  readonly input?: string;
  readonly env?: NodeJS.ProcessEnv;
  /**
   * Kill berth (SIGKILL, its pid only) after this many milliseconds; the result then has
   * `timedOut`. Without it the call may wait as long as the test.
   */
  readonly timeoutMs?: number;
}

/** A berth call's result; `timedOut` when {@link CallOptions.timeoutMs} ran out. */
export interface CallResult extends BerthResult {
  readonly timedOut: boolean;
  /** Wall time of the call in milliseconds. */
  readonly ms: number;
}

/** The per-file harness; see the module comment. */
export interface ContainerHarness {
  /** The store root, `--root`. */
  readonly root: string;
  /** The store's own bridge, subnets and nftables table (network.ts). */
  readonly network: NetworkSandbox;
  /** A scratch directory for host files (volumes, env files); removed by cleanup(). */
  readonly work: string;
  /** {@link probeImage}. */
  readonly image: string;
  /** The image in the registry, `127.0.0.1:PORT/berth-test/probe:latest`. */
  readonly remoteImage: string;
  readonly registry: TestRegistry;
  /** `berth --root ROOT ARGS…`. */
  berth(args: readonly string[], options?: CallOptions): Promise<CallResult>;
  /** Like berth() but throws with the output unless it exits 0. */
  berthOk(args: readonly string[], options?: CallOptions): Promise<CallResult>;
  /** `run --rm FLAGS IMAGE /probe PATHS…`, which must exit 0; the parsed report. */
  probe(flags?: readonly string[], paths?: readonly string[]): Promise<ProbeReport>;
  /**
   * `run -d FLAGS IMAGE /probe PATHS…`, `wait`, `logs`, `rm`: the report with the id of the
   * container that printed it.
   */
  probeDetached(flags?: readonly string[], paths?: readonly string[]): Promise<{ id: string; report: ProbeReport }>;
  /**
   * Polls `logs` until stdout or stderr contains `text` (default 10 s); throws with the logs.
   * The container need not exist yet.
   */
  waitForLog(container: string, text: string, timeoutMs?: number): Promise<void>;
  /** `inspect` of one container, parsed (docker's shape; check before use). */
  inspect(container: string): Promise<Record<string, unknown>>;
  /** `run -d FLAGS IMAGE COMMAND…`; the id it printed. */
  runDetached(flags: readonly string[], command: readonly string[]): Promise<string>;
  /** Runs `fn` with a detached container, then removes it with `rm -f`, also when fn throws. */
  withContainer<T>(flags: readonly string[], command: readonly string[], fn: (id: string) => Promise<T>): Promise<T>;
  /** `rm -f` of ids or names; a container already gone is fine. */
  removeQuietly(...containers: string[]): Promise<void>;
  /** The full ids `ps -a` lists. */
  listIds(): Promise<string[]>;
  /** Every container id this harness has seen, --rm ones included. */
  seenIds(): ReadonlySet<string>;
  /** `<root>/containers/<id>`. */
  containerDir(id: string): string;
  /** The cgroup leaves (`/sys/fs/cgroup/<h>/berth/<id>`) of `ids` that exist. */
  cgroupLeaves(ids: Iterable<string>): Promise<string[]>;
  /** pids of berth-monitor processes (or others) whose command line names this root. */
  processesOfRoot(): Promise<string[]>;
  /**
   * What is left that should not be: containers listed or in `<root>/containers`, mounts
   * naming the root, processes naming it, cgroup leaves of every seen id. Empty when clean.
   * Asks again for up to `graceMs` (default 5 s) while something is left, since the exit
   * command of a --rm container (`berth rm`, run by its monitor) may still be finishing.
   */
  leftovers(graceMs?: number): Promise<string[]>;
  /** afterAll: `rm -f` what is listed, stop the registry, remove the temp dirs. */
  cleanup(): Promise<void>;
}

/** Builds the probe statically into `dir` and returns its path. */
export async function buildProbe(dir: string): Promise<string> {
  const out = join(dir, 'probe');
  await runText('cc', ['-static', '-O2', '-Wall', '-Wextra', '-Werror', '-o', out, join(repoRoot, 'test', 'fixtures', 'probe', 'probe.c')]);
  return out;
}

/** busybox with /probe, and users root, nobody, app (1000:1000, also in extra 2000). */
export async function probeImageSpec(probeBinary: Buffer): Promise<ImageSpec> {
  const busybox = await busyboxImage();
  return {
    ...busybox,
    config: { ...busybox.config, Cmd: ['/probe'] },
    layers: [
      ...busybox.layers,
      {
        createdBy: 'probe and users',
        entries: [
          { type: 'file', path: 'probe', content: probeBinary, mode: 0o755 },
          { type: 'dir', path: 'etc' },
          { type: 'file', path: 'etc/passwd', content: passwd },
          { type: 'file', path: 'etc/group', content: group },
          { type: 'dir', path: 'home' },
          { type: 'dir', path: 'home/app', mode: 0o755, uid: 1000, gid: 1000 },
          { type: 'file', path: 'noexec', content: '#!/bin/sh\necho never\n', mode: 0o644 },
        ],
      },
    ],
  };
}

/** Sets up a harness (see the module comment); the caller must call cleanup(). */
export async function setUpContainers(label: string): Promise<ContainerHarness> {
  const work = await makeTempDir(`containers-${label}`);
  const root = join(work, 'root');
  let registry: TestRegistry | undefined;
  let watcher: FSWatcher | undefined;
  let network: NetworkSandbox | undefined;
  const seen = new Set<string>();
  const call = (args: readonly string[], options: CallOptions = {}): Promise<CallResult> => callBerth(root, args, options);
  const callOk = async (args: readonly string[], options: CallOptions = {}): Promise<CallResult> => {
    const result = await call(args, options);
    if (result.code !== 0) throw new Error(`berth ${args.join(' ')} exited ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`);
    return result;
  };
  try {
    network = await isolateNetworks(root);
    const probe = await buildProbe(work);
    const layout = join(work, 'layout');
    await writeOciLayout(layout, { probe: await probeImageSpec(await readFile(probe)) });
    registry = await startRegistry();
    await pushLayout(layout, registry.host, 'berth-test/probe', 'probe');
    const remoteImage = `${registry.host}/berth-test/probe:probe`;
    await callOk(['pull', remoteImage]);
    await callOk(['tag', remoteImage, probeImage]);
    // berth makes this directory (mode 0711) on the first create; made here so that it can
    // be watched from the start.
    const containersDir = join(root, 'containers');
    await mkdir(containersDir, { mode: 0o711, recursive: true });
    watcher = watch(containersDir, (_event, name) => {
      if (typeof name === 'string' && /^[0-9a-f]{64}$/.test(name)) seen.add(name);
    });
    return harness({ work, root, registry, remoteImage, seen, watcher, network, call, callOk });
  } catch (err) {
    watcher?.close();
    await network?.cleanup().catch(() => undefined);
    await registry?.stop();
    await removeDir(work);
    throw err;
  }
}

function harness(parts: {
  work: string;
  root: string;
  registry: TestRegistry;
  remoteImage: string;
  seen: Set<string>;
  watcher: FSWatcher;
  network: NetworkSandbox;
  call: (args: readonly string[], options?: CallOptions) => Promise<CallResult>;
  callOk: (args: readonly string[], options?: CallOptions) => Promise<CallResult>;
}): ContainerHarness {
  const { work, root, seen, call, callOk } = parts;
  const containersDir = join(root, 'containers');
  const noteIds = (text: string): void => {
    for (const id of text.match(/\b[0-9a-f]{64}\b/g) ?? []) seen.add(id);
  };
  const listIds = async (): Promise<string[]> => {
    const ids = (await callOk(['ps', '-a', '-q', '--no-trunc'])).stdout.split('\n').filter((l) => l !== '');
    ids.forEach((id) => seen.add(id));
    return ids;
  };
  const removeQuietly = async (...containers: string[]): Promise<void> => {
    if (containers.length > 0) await call(['rm', '-f', ...containers]);
  };
  const cgroupLeaves = async (ids: Iterable<string>): Promise<string[]> => {
    const hierarchies = await readdir(cgroupMount).catch(() => [] as string[]);
    const found: string[] = [];
    for (const id of ids) {
      for (const h of ['', ...hierarchies]) {
        const dir = join(cgroupMount, h, 'berth', id);
        if (await readdir(dir).then(() => true, () => false)) found.push(dir);
      }
    }
    return [...new Set(found)];
  };
  const processesOfRoot = async (): Promise<string[]> => {
    const pids = (await readdir('/proc')).filter((p) => /^\d+$/.test(p) && Number(p) !== process.pid);
    const found: string[] = [];
    for (const pid of pids) {
      const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
      const cwd = await readlink(`/proc/${pid}/cwd`).catch(() => '');
      if (cmdline.includes(`${root}/`) || cwd.startsWith(`${root}/`)) found.push(`${pid} (${cmdline.split('\0').join(' ').trim()})`);
    }
    return found;
  };
  const leftoversOnce = async (): Promise<string[]> => {
    const problems: string[] = [];
    const listed = await listIds();
    if (listed.length > 0) problems.push(`containers still listed: ${listed.join(', ')}`);
    const dirs = await readdir(containersDir).catch(() => [] as string[]);
    dirs.forEach((d) => /^[0-9a-f]{64}$/.test(d) && seen.add(d));
    if (dirs.length > 0) problems.push(`${containersDir} still holds ${dirs.join(', ')}`);
    const mounts = (await readFile('/proc/self/mountinfo', 'utf8')).split('\n').filter((l) => l.includes(root));
    if (mounts.length > 0) problems.push(`mounts name the root:\n${mounts.join('\n')}`);
    const processes = await processesOfRoot();
    if (processes.length > 0) problems.push(`processes of the root: ${processes.join('; ')}`);
    const leaves = await cgroupLeaves(seen);
    if (leaves.length > 0) problems.push(`cgroup leaves left: ${leaves.join(', ')}`);
    const netns = [...seen].filter((id) => existsSync(join('/run/berth/netns', id)));
    if (netns.length > 0) problems.push(`network namespaces left: ${netns.join(', ')}`);
    return problems;
  };
  const leftovers = async (graceMs = 5_000): Promise<string[]> => {
    const deadline = Date.now() + graceMs;
    for (;;) {
      const problems = await leftoversOnce();
      if (problems.length === 0 || Date.now() >= deadline) return problems;
      await sleep(100);
    }
  };
  const logs = async (container: string): Promise<CallResult> => callOk(['logs', container]);
  let cleaned: Promise<void> | undefined;
  return {
    root,
    work,
    network: parts.network,
    image: probeImage,
    remoteImage: parts.remoteImage,
    registry: parts.registry,
    berth: call,
    berthOk: callOk,
    async probe(flags = [], paths = []) {
      const result = await call(['run', '--rm', ...flags, probeImage, '/probe', ...paths]);
      if (result.code !== 0) throw new Error(`The probe run with ${JSON.stringify(flags)} exited ${result.code}\nstderr: ${result.stderr}\nstdout: ${result.stdout}`);
      return parseProbe(result.stdout);
    },
    async probeDetached(flags = [], paths = []) {
      const result = await callOk(['run', '-d', ...flags, probeImage, '/probe', ...paths]);
      const id = result.stdout.trim();
      noteIds(id);
      try {
        const waited = await callOk(['wait', id]);
        const output = await logs(id);
        if (waited.stdout.trim() !== '0') throw new Error(`The probe exited ${waited.stdout.trim()}\nstderr: ${output.stderr}`);
        return { id, report: parseProbe(output.stdout) };
      } finally {
        await removeQuietly(id);
      }
    },
    async waitForLog(container, text, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        // A container being created (a foreground run just started) is not there yet: ask again.
        const output = await call(['logs', container]);
        if (output.code === 0 && (output.stdout.includes(text) || output.stderr.includes(text))) return;
        if (Date.now() >= deadline) {
          throw new Error(`"${text}" did not appear in the logs of ${container} within ${timeoutMs} ms\nstdout: ${output.stdout}\nstderr: ${output.stderr}`);
        }
        await sleep(100);
      }
    },
    async inspect(container) {
      const parsed: unknown = JSON.parse((await callOk(['inspect', container])).stdout);
      if (!Array.isArray(parsed) || parsed.length !== 1 || typeof parsed[0] !== 'object' || parsed[0] === null) {
        throw new Error(`inspect ${container} did not print one object: ${JSON.stringify(parsed)}`);
      }
      return parsed[0] as Record<string, unknown>;
    },
    async runDetached(flags, command) {
      const result = await callOk(['run', '-d', ...flags, probeImage, ...command]);
      const id = result.stdout.trim();
      noteIds(id);
      return id;
    },
    async withContainer(flags, command, fn) {
      const result = await callOk(['run', '-d', ...flags, probeImage, ...command]);
      const id = result.stdout.trim();
      noteIds(id);
      try {
        return await fn(id);
      } finally {
        await removeQuietly(id);
      }
    },
    removeQuietly,
    listIds,
    seenIds: () => seen,
    containerDir: (id) => join(containersDir, id),
    cgroupLeaves,
    processesOfRoot,
    leftovers,
    cleanup() {
      cleaned ??= (async () => {
        try {
          const ids = await listIds().catch(() => [] as string[]);
          await removeQuietly(...ids);
        } finally {
          parts.watcher.close();
          await parts.network.cleanup();
          await parts.registry.stop();
          await removeDir(work);
        }
      })();
      return cleaned;
    },
  };
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * Runs `berth --root ROOT ARGS…` as berth.ts's `berth()` does (same environment), and
 * kills it (SIGKILL to its pid) when `timeoutMs` runs out.
 */
export function callBerth(root: string, args: readonly string[], options: CallOptions = {}): Promise<CallResult> {
  if (options.timeoutMs === undefined) {
    const start = Date.now();
    return berth(args, { root, ...(options.input === undefined ? {} : { input: options.input }), ...(options.env === undefined ? {} : { env: options.env }) })
      .then((r) => ({ ...r, timedOut: false, ms: Date.now() - start }));
  }
  requireBuilt();
  const start = Date.now();
  return new Promise((resolve, reject) => {
    const child = spawn(berthBin, ['--root', root, ...args], {
      env: { ...process.env, BERTH_AUTH_FILE: join(root, '..', 'auth.json'), DOCKER_CONFIG: join(root, '..', 'docker'), ...options.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? 128 + (signal === 'SIGKILL' ? 9 : 0), stdout, stderr, timedOut, ms: Date.now() - start });
    });
    child.stdin.on('error', () => undefined);
    child.stdin.end(options.input ?? '');
  });
}

/** Writes a file under the harness's work dir and returns its path. */
export async function writeWorkFile(h: ContainerHarness, name: string, content: string): Promise<string> {
  const path = join(h.work, name);
  await writeFile(path, content);
  return path;
}
