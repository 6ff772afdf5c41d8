/**
 * Throwaway QEMU guests for tests that need a kernel and an init of their own: above all a
 * pure cgroup v2 host, which the CI machines (hybrid cgroups, never to be rearranged) are
 * not. {@link runInGuest} boots Debian's cloud kernel (downloaded with `apt-get download`,
 * never installed) with an initramfs of busybox, this process's `node` and its shared
 * libraries, the kernel modules asked for and the caller's files; the guest's /init
 * (test/fixtures/qemu/init.sh) mounts cgroup2 alone at /sys/fs/cgroup, runs the command
 * once and powers off. The guest has no network device, no disk and no shared directory.
 *
 * KVM is used when the host has working hardware virtualization (vmx or svm, /dev/kvm),
 * else TCG emulation (about 5 s to boot). The kernel and the part of the initramfs that
 * does not change between runs are cached under {@link defaultCacheDir}.
 */
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, access, copyFile, lstat, mkdir, open, readFile, readdir, readlink, realpath, rename, rm, stat, utimes, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { basename, join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeTempDir, removeDir, runText } from './exec.js';

const initScript = fileURLToPath(new URL('../fixtures/qemu/init.sh', import.meta.url));
/** The Debian metapackage that depends on the current cloud kernel. */
const kernelMetapackage = 'linux-image-cloud-amd64';

/** How QEMU runs the guest's CPUs: hardware virtualization or TCG emulation. */
export type GuestAccel = 'kvm' | 'tcg';

/**
 * A file or directory to put into the guest at an absolute `guestPath`, owned by root;
 * `mode` is the file's, or the top directory's (default: the host's, or 0644 for `data`).
 * /berth is the harness's own.
 */
export type GuestFile =
  /** A host file, symlink or directory (copied whole; symlinks inside are kept as they are). */
  | { readonly hostPath: string; readonly guestPath: string; readonly mode?: number }
  | { readonly data: string | Uint8Array; readonly guestPath: string; readonly mode?: number };

/** What {@link runInGuest} boots and runs. */
export interface GuestOptions {
  /**
   * An argv to exec, or a script for busybox `sh`; run as root in /, with stdin /dev/null,
   * PATH covering /usr/local/sbin to /bin, and HOME /root.
   */
  readonly command: readonly string[] | string;
  readonly files?: readonly GuestFile[];
  /** Host executables to copy at their own paths with the shared libraries `ldd` names (`node` always is). */
  readonly binaries?: readonly string[];
  readonly env?: Readonly<Record<string, string>>;
  /** Modules of the guest kernel to load, with their dependencies; built-in ones are skipped. Default `['overlay']`. */
  readonly modules?: readonly string[];
  /** Run the command in this cgroup (made under /sys/fs/cgroup) instead of the root cgroup. */
  readonly cgroup?: string;
  /** The command's limit inside the guest; it is then killed with its session. Default 60 s. */
  readonly timeoutMs?: number;
  /** How long QEMU may take until the command starts. Default 60 s (TCG), 20 s (KVM). */
  readonly bootTimeoutMs?: number;
  readonly memoryMiB?: number;
  readonly cpus?: number;
  /** Default: {@link detectAccel}. */
  readonly accel?: GuestAccel;
  /** Default: {@link defaultCacheDir}. */
  readonly cacheDir?: string;
  readonly signal?: AbortSignal;
}

/** What the guest reported. Times are host milliseconds unless named for the guest. */
export interface GuestResult {
  /** The command's exit status (128 + n when signal n killed it, as sh reports). */
  readonly status: number;
  /** Whether the command hit `timeoutMs` and was killed. */
  readonly timedOut: boolean;
  /** Standard output and error, interleaved as written. */
  readonly output: string;
  /** The kernel console (ttyS0): kernel messages and the guest init's diagnostics. */
  readonly console: string;
  readonly accel: GuestAccel;
  /** The guest kernel's release, such as `6.1.0-56-cloud-amd64`. */
  readonly kernel: string;
  /** From starting QEMU until the guest was ready to run the command. */
  readonly bootMs: number;
  /** The guest's uptime when it was ready: the kernel's and init's share of `bootMs`. */
  readonly guestBootMs: number;
  /** The command's run time by the guest's clock. */
  readonly commandMs: number;
  /** The whole call: kernel and initramfs preparation, boot, command and power-off. */
  readonly totalMs: number;
}

/** The guest did not report a finished command: QEMU failed, it timed out or it was aborted. */
export class GuestError extends Error {
  constructor(
    message: string,
    readonly console: string,
    readonly output: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
    this.name = 'GuestError';
  }
}

/** A downloaded, extracted guest kernel. */
export interface GuestKernel {
  /** The kernel release (the directory under lib/modules). */
  readonly release: string;
  readonly vmlinuz: string;
  /** `lib/modules/<release>` of the extracted package. */
  readonly modulesDir: string;
}

/** /var/cache/berth-test/qemu for root, else ~/.cache/berth-test/qemu; `BERTH_QEMU_CACHE` overrides. */
export function defaultCacheDir(): string {
  const fromEnv = process.env['BERTH_QEMU_CACHE'];
  if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
  if (process.getuid?.() === 0) return '/var/cache/berth-test/qemu';
  return join(process.env['XDG_CACHE_HOME'] ?? join(homedir(), '.cache'), 'berth-test', 'qemu');
}

/**
 * KVM when /dev/kvm opens read-write and the CPU flags name vmx or svm; else TCG. The flags
 * matter: a nested /dev/kvm without them (PVM) cannot boot an ordinary kernel.
 * `BERTH_QEMU_ACCEL=kvm|tcg` overrides.
 */
export async function detectAccel(): Promise<GuestAccel> {
  const forced = process.env['BERTH_QEMU_ACCEL'];
  if (forced === 'kvm' || forced === 'tcg') return forced;
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK);
    const cpuinfo = await readFile('/proc/cpuinfo', 'utf8');
    return /^flags\s*:.*\b(vmx|svm)\b/m.test(cpuinfo) ? 'kvm' : 'tcg';
  } catch {
    return 'tcg';
  }
}

/** What is missing to run guests here, as "needs ..." phrases; empty when nothing is. */
export async function guestPrerequisites(options: { cacheDir?: string } = {}): Promise<string[]> {
  const missing: string[] = [];
  const has = async (command: string): Promise<boolean> =>
    runText('sh', ['-c', `command -v ${command}`]).then(() => true, () => false);
  for (const command of ['qemu-system-x86_64', 'timeout', 'ldd', 'busybox']) {
    if (!(await has(command))) missing.push(`the "${command}" command`);
  }
  if ((await cachedKernels(options.cacheDir ?? defaultCacheDir())).length === 0) {
    const tools = await Promise.all(['apt-get', 'apt-cache', 'dpkg-deb'].map(async (c) => ((await has(c)) ? undefined : c)));
    const absent = tools.filter((c) => c !== undefined);
    if (absent.length > 0) missing.push(`${absent.map((c) => `"${c}"`).join(', ')} to download the guest kernel`);
    else if ((await resolveKernelPackage(options.cacheDir ?? defaultCacheDir()).catch(() => undefined)) === undefined) {
      missing.push(`apt to know "${kernelMetapackage}" (run "apt-get update")`);
    }
  }
  return missing;
}

/**
 * Boots a guest, runs `options.command` in it and returns what it reported. QEMU is always
 * stopped and the run's temp files removed, on failure too. Rejects with a
 * {@link GuestError} when the guest does not report a finished command in time.
 */
export async function runInGuest(options: GuestOptions): Promise<GuestResult> {
  const started = performance.now();
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const accel = options.accel ?? (await detectAccel());
  const kernel = await prepareGuestKernel({ cacheDir });
  const base = await prepareBaseInitramfs(kernel, cacheDir, options.modules ?? ['overlay']);
  const dir = await makeTempDir('qemu');
  try {
    const initrd = join(dir, 'initrd.cpio');
    const marker = `berth-guest-${randomBytes(8).toString('hex')}`;
    await copyFile(base.path, initrd);
    await appendRunArchive(initrd, base.known, options, marker);
    const boot = await bootGuest({ dir, kernel, initrd, accel, marker, options });
    return { ...boot, accel, kernel: kernel.release, totalMs: Math.round(performance.now() - started) };
  } finally {
    await removeDir(dir);
  }
}

// ---- The kernel ------------------------------------------------------------------------

/**
 * The package the metapackage depends on now, and its version. apt-cache takes seconds here
 * (no pkgcache.bin), so the answer is kept in the cache until apt's lists change.
 */
async function resolveKernelPackage(cacheDir: string): Promise<{ name: string; version: string }> {
  const lists = '/var/lib/apt/lists';
  const files = await readdir(lists).catch(() => []);
  const stamps = await Promise.all(files.sort().map(async (f) => {
    const st = await stat(join(lists, f)).catch(() => undefined);
    return `${f}:${st?.size}:${st?.mtimeMs}`;
  }));
  const stamp = createHash('sha256').update(stamps.join('\n')).digest('hex');
  const remembered = join(cacheDir, 'apt-kernel-package.json');
  const known: unknown = JSON.parse(await readFile(remembered, 'utf8').catch(() => 'null'));
  if (isRecord(known) && known['stamp'] === stamp && typeof known['name'] === 'string' && typeof known['version'] === 'string') {
    return { name: known['name'], version: known['version'] };
  }
  const show = await runText('apt-cache', ['show', '--no-all-versions', kernelMetapackage]);
  // "Depends: linux-image-6.1.0-56-cloud-amd64 (= 6.1.192-2)"
  const depends = /^Depends:.*?\b(linux-image-[^\s,]+) \(= ([^)\s]+)\)/m.exec(show);
  if (depends?.[1] === undefined || depends[2] === undefined) {
    throw new Error(`"apt-cache show ${kernelMetapackage}" names no linux-image package of an exact version`);
  }
  const answer = { name: depends[1], version: depends[2] };
  await mkdir(cacheDir, { recursive: true });
  const tmp = `${remembered}.tmp-${process.pid}`;
  await writeFile(tmp, JSON.stringify({ stamp, ...answer }));
  await rename(tmp, remembered);
  return answer;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null;
}

/** Complete kernel directories in the cache (`kernel-<package>_<version>`), newest first. */
async function cachedKernels(cacheDir: string): Promise<string[]> {
  const names = await readdir(cacheDir).catch(() => []);
  const complete: { dir: string; mtime: number }[] = [];
  for (const name of names.filter((n) => n.startsWith('kernel-') && !n.includes('.tmp-'))) {
    const done = await stat(join(cacheDir, name, '.complete')).catch(() => undefined);
    if (done !== undefined) complete.push({ dir: join(cacheDir, name), mtime: done.mtimeMs });
  }
  return complete.sort((a, b) => b.mtime - a.mtime).map((k) => k.dir);
}

async function kernelIn(dir: string): Promise<GuestKernel> {
  const [release] = await readdir(join(dir, 'lib', 'modules'));
  if (release === undefined) throw new Error(`"${dir}" has no lib/modules/<release>`);
  return { release, vmlinuz: join(dir, 'boot', `vmlinuz-${release}`), modulesDir: join(dir, 'lib', 'modules', release) };
}

/**
 * The current Debian cloud kernel, extracted under the cache (`apt-get download` and
 * `dpkg-deb -x`; nothing is installed). When apt cannot say which is current (no lists,
 * offline), the newest cached one is used.
 */
export async function prepareGuestKernel(options: { cacheDir?: string } = {}): Promise<GuestKernel> {
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  let wanted: { name: string; version: string };
  try {
    wanted = await resolveKernelPackage(cacheDir);
  } catch (err) {
    const [newest] = await cachedKernels(cacheDir);
    if (newest !== undefined) return kernelIn(newest);
    throw new Error(`Cannot find the guest kernel "${kernelMetapackage}" with apt-cache (run "apt-get update")`, { cause: err });
  }
  const dir = join(cacheDir, `kernel-${wanted.name}_${wanted.version.replaceAll(/[^\w.+-]/g, '_')}`);
  if (await touch(join(dir, '.complete'))) return kernelIn(dir);
  // Another test process may be downloading too: each works in its own directory and the
  // first rename wins.
  const work = `${dir}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  await mkdir(work, { recursive: true });
  try {
    // As root, apt's sandbox user cannot write to a private temp dir; download as root.
    await runText('apt-get', ['download', '-o', 'APT::Sandbox::User=root', `${wanted.name}=${wanted.version}`], { cwd: work });
    const [deb] = (await readdir(work)).filter((n) => n.endsWith('.deb'));
    if (deb === undefined) throw new Error(`"apt-get download ${wanted.name}" left no .deb in "${work}"`);
    await runText('dpkg-deb', ['-x', join(work, deb), join(work, 'root')]);
    await writeFile(join(work, 'root', '.complete'), `${wanted.name} ${wanted.version}\n`);
    await rename(join(work, 'root'), dir).catch(async (err: unknown) => {
      if ((await stat(join(dir, '.complete')).catch(() => undefined)) === undefined) throw err;
    });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  await pruneCache(cacheDir);
  return kernelIn(dir);
}

/** Marks a cache entry as used now; false when it does not exist. */
async function touch(path: string): Promise<boolean> {
  const now = new Date();
  return utimes(path, now, now).then(() => true, () => false);
}

/**
 * Removes what each new kernel or change to the initramfs's inputs leaves behind, 100 MB
 * or more apiece: kernels unused for a week, base archives (rebuilt in about a second)
 * unused for an hour, and temp entries of runs that died a day ago.
 */
async function pruneCache(cacheDir: string): Promise<void> {
  const hour = 3600 * 1000;
  const day = 24 * hour;
  for (const name of await readdir(cacheDir).catch(() => [])) {
    const path = join(cacheDir, name);
    // Use touches a kernel's .complete and a base archive, not its .json manifest.
    const used = name.includes('.tmp-') ? path : name.startsWith('kernel-') ? join(path, '.complete') : path.replace(/\.json$/, '');
    const mtime = (await stat(used).catch(() => undefined))?.mtimeMs ?? 0;
    const age = Date.now() - mtime;
    const stale = name.includes('.tmp-') ? age > day :
      name.startsWith('kernel-') ? age > 7 * day : name.startsWith('initramfs-base-') && age > hour;
    if (stale) await rm(path, { recursive: true, force: true });
  }
}

// ---- Kernel modules --------------------------------------------------------------------

/** `depends=` of a module's .modinfo ELF section (ELF64 little-endian, as amd64 modules are). */
async function moduleDepends(path: string): Promise<string[]> {
  const elf = await readFile(path);
  const shoff = Number(elf.readBigUInt64LE(0x28));
  const shentsize = elf.readUInt16LE(0x3a);
  const shnum = elf.readUInt16LE(0x3c);
  const section = (i: number): { name: number; offset: number; size: number } => {
    const at = shoff + i * shentsize;
    return { name: elf.readUInt32LE(at), offset: Number(elf.readBigUInt64LE(at + 0x18)), size: Number(elf.readBigUInt64LE(at + 0x20)) };
  };
  const names = section(elf.readUInt16LE(0x3e));
  for (let i = 0; i < shnum; i++) {
    const s = section(i);
    const nameEnd = elf.indexOf(0, names.offset + s.name);
    if (elf.toString('latin1', names.offset + s.name, nameEnd) !== '.modinfo') continue;
    const fields = elf.toString('latin1', s.offset, s.offset + s.size).split('\0');
    const depends = fields.find((f) => f.startsWith('depends='))?.slice('depends='.length) ?? '';
    return depends.split(',').filter((d) => d !== '');
  }
  return [];
}

/**
 * Paths (relative to the modules directory) of `wanted` and what they depend on, each after
 * its dependencies; modules built into the kernel are left out.
 */
async function moduleLoadOrder(kernel: GuestKernel, wanted: readonly string[]): Promise<string[]> {
  const norm = (name: string): string => name.replaceAll('-', '_');
  const lines = async (file: string): Promise<string[]> =>
    (await readFile(join(kernel.modulesDir, file), 'utf8')).split('\n').filter((l) => l !== '');
  const nameOf = (path: string): string => norm(basename(path).replace(/\.ko(\.\w+)?$/, ''));
  const builtin = new Set((await lines('modules.builtin')).map(nameOf));
  const paths = new Map((await lines('modules.order')).map((p) => [nameOf(p), p]));
  const order: string[] = [];
  const seen = new Set<string>();
  const visit = async (name: string): Promise<void> => {
    if (seen.has(name) || builtin.has(name)) return;
    seen.add(name);
    const path = paths.get(name);
    if (path === undefined) throw new Error(`The guest kernel ${kernel.release} has no module "${name}"`);
    for (const dep of await moduleDepends(join(kernel.modulesDir, path))) await visit(norm(dep));
    order.push(path);
  };
  for (const name of wanted) await visit(norm(name));
  return order;
}

// ---- The initramfs ---------------------------------------------------------------------

type EntryKind = 'dir' | 'file' | 'symlink';

/**
 * Writes a cpio "newc" archive, the initramfs format (Linux
 * Documentation/driver-api/early-userspace/buffer-format.rst), adding missing parent
 * directories. `known` holds the paths that exist already, in an earlier archive too; a
 * later file replaces an earlier one.
 */
class CpioWriter {
  #out: FileHandle;
  #ino = 1;
  readonly known: Map<string, EntryKind>;

  constructor(out: FileHandle, known: Iterable<[string, EntryKind]> = []) {
    this.#out = out;
    this.known = new Map(known);
  }

  /** A header: magic, ino, mode, uid, gid, nlink, mtime, size, 4 device numbers, name size, check. */
  async #entry(path: string, mode: number, size: number, mtime = Date.now() / 1000): Promise<void> {
    const name = Buffer.from(`${path.replace(/^\/+/, '')}\0`);
    const fields = [this.#ino++, mode, 0, 0, 1, Math.floor(mtime), size, 0, 0, 0, 0, name.length, 0];
    const header = Buffer.from(`070701${fields.map((f) => f.toString(16).padStart(8, '0')).join('')}`);
    const length = header.length + name.length;
    await this.#write(Buffer.concat([header, name, Buffer.alloc(align4(length) - length)]));
  }

  async #write(data: Uint8Array): Promise<void> {
    await this.#out.write(data);
  }

  async #parents(path: string): Promise<void> {
    const parent = posix.dirname(path);
    if (parent === '/' || this.known.has(parent)) return;
    await this.directory(parent, 0o755);
  }

  async directory(path: string, mode: number): Promise<void> {
    if (this.known.has(path)) return;
    await this.#parents(path);
    this.known.set(path, 'dir');
    await this.#entry(path, constants.S_IFDIR | (mode & 0o7777), 0);
  }

  async symlink(path: string, target: string): Promise<void> {
    if (this.known.has(path)) return;
    await this.#parents(path);
    this.known.set(path, 'symlink');
    const data = Buffer.from(target);
    await this.#entry(path, constants.S_IFLNK | 0o777, data.length);
    await this.#write(Buffer.concat([data, Buffer.alloc(align4(data.length) - data.length)]));
  }

  /** A file from `data` or, streamed in chunks, from the host file `data` names. */
  async file(path: string, mode: number, data: Uint8Array | { hostPath: string; size: number; mtime: number }): Promise<void> {
    await this.#parents(path);
    this.known.set(path, 'file');
    const size = data instanceof Uint8Array ? data.length : data.size;
    await this.#entry(path, constants.S_IFREG | (mode & 0o7777), size, data instanceof Uint8Array ? undefined : data.mtime);
    if (data instanceof Uint8Array) await this.#write(data);
    else {
      const source = await open(data.hostPath, 'r');
      try {
        const chunk = Buffer.alloc(1 << 20);
        let copied = 0;
        for (;;) {
          const { bytesRead } = await source.read(chunk, 0, chunk.length, null);
          if (bytesRead === 0) break;
          copied += bytesRead;
          await this.#write(chunk.subarray(0, bytesRead));
        }
        if (copied !== size) throw new Error(`"${data.hostPath}" changed size while it was copied into the initramfs`);
      } finally {
        await source.close();
      }
    }
    await this.#write(Buffer.alloc(align4(size) - size));
  }

  /** A host path at the same guest path: symlinks on the way are recreated and followed. */
  async mirror(path: string, depth = 0): Promise<void> {
    if (depth > 16) throw new Error(`Too many symlinks to copy "${path}" into the initramfs`);
    const parts = path.split('/').filter((p) => p !== '');
    for (let i = 0, here = ''; i < parts.length; i++) {
      here = `${here}/${parts[i] ?? ''}`;
      const st = await lstat(here);
      if (st.isSymbolicLink()) {
        const target = await readlink(here);
        await this.symlink(here, target);
        return this.mirror(posix.join(posix.resolve(posix.dirname(here), target), ...parts.slice(i + 1)), depth + 1);
      }
      if (i < parts.length - 1 || st.isDirectory()) await this.directory(here, st.mode);
      else if (!this.known.has(here)) await this.file(here, st.mode, { hostPath: here, size: st.size, mtime: st.mtimeMs / 1000 });
    }
  }

  /** A host file, symlink or directory tree at `guestPath`. */
  async copy(hostPath: string, guestPath: string, mode?: number): Promise<void> {
    const st = await lstat(hostPath);
    if (st.isSymbolicLink()) await this.symlink(guestPath, await readlink(hostPath));
    else if (st.isFile()) await this.file(guestPath, mode ?? st.mode, { hostPath, size: st.size, mtime: st.mtimeMs / 1000 });
    else if (st.isDirectory()) {
      await this.directory(guestPath, mode ?? st.mode);
      for (const name of (await readdir(hostPath)).sort()) await this.copy(join(hostPath, name), posix.join(guestPath, name));
    } else throw new Error(`Cannot copy "${hostPath}" into the guest: only files, symlinks and directories can be`);
  }

  /** The trailer, padded to 512 bytes so that another archive can follow. */
  async finish(offset: number): Promise<void> {
    await this.#entry('TRAILER!!!', 0, 0);
    const { size } = await this.#out.stat();
    const end = size - offset;
    await this.#write(Buffer.alloc((512 - (end % 512)) % 512));
  }
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

/** The shared libraries `ldd` names for a host executable (none for a static one). */
async function sharedLibraries(executable: string): Promise<string[]> {
  const text = await runText('ldd', [executable], { okCodes: [0, 1] });
  return [...text.matchAll(/(?:=>\s*)?(\/\S+)\s+\(0x[0-9a-f]+\)/g)].map((m) => m[1] ?? '');
}

async function hostCommand(name: string): Promise<string> {
  return (await runText('sh', ['-c', `command -v ${name}`])).trim();
}

/** Identity of host files for the cache key: path, size and mtime. */
async function fingerprint(paths: readonly string[]): Promise<string> {
  const parts = await Promise.all(paths.map(async (p) => {
    const st = await stat(p);
    return `${p}:${st.size}:${st.mtimeMs}`;
  }));
  return parts.join('\n');
}

interface BaseInitramfs {
  readonly path: string;
  readonly known: Map<string, EntryKind>;
}

/**
 * The part of the initramfs that does not change between runs, cached by what goes in:
 * /init, busybox with its applets, node with its libraries, the kernel's modules and
 * /etc basics. Returns the archive and the paths in it.
 */
async function prepareBaseInitramfs(kernel: GuestKernel, cacheDir: string, modules: readonly string[]): Promise<BaseInitramfs> {
  const busybox = await hostCommand('busybox');
  const executables = [process.execPath, busybox];
  const libraries = [...new Set((await Promise.all(executables.map(sharedLibraries))).flat())];
  const order = await moduleLoadOrder(kernel, modules);
  const init = await readFile(initScript);
  const key = createHash('sha256')
    .update(`${kernel.vmlinuz}\n${order.join('\n')}\n`)
    .update(await fingerprint([...executables, ...libraries]))
    .update(init)
    .update(await readFile(fileURLToPath(import.meta.url)))
    .digest('hex')
    .slice(0, 16);
  const path = join(cacheDir, `initramfs-base-${key}.cpio`);
  const manifest = `${path}.json`;
  const cached = parseManifest(await readFile(manifest, 'utf8').catch(() => ''));
  if (cached !== undefined && (await touch(path))) return { path, known: cached };

  await mkdir(cacheDir, { recursive: true });
  const work = `${path}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const known = await writeArchive(work, 0, [], async (cpio) => {
      for (const dir of ['/proc', '/sys', '/dev', '/tmp', '/run', '/root', '/etc', '/berth']) await cpio.directory(dir, 0o755);
      await cpio.file('/init', 0o755, init);
      const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n';
      await cpio.file('/etc/passwd', 0o644, Buffer.from(passwd));
      await cpio.file('/etc/group', 0o644, Buffer.from('root:x:0:\ntty:x:5:\nnogroup:x:65534:\n'));
      await cpio.file('/etc/hosts', 0o644, Buffer.from('127.0.0.1 localhost berth-guest\n::1 localhost\n'));
      // The host's top directories, merged-/usr symlinks (/bin -> usr/bin) included.
      for (const top of ['/bin', '/sbin', '/lib', '/lib64', '/usr/bin', '/usr/sbin']) {
        if ((await lstat(top).catch(() => undefined)) !== undefined) await cpio.mirror(top);
      }
      for (const file of [...executables, ...libraries]) await cpio.mirror(file);
      // Applets as symlinks next to busybox, where nothing else of that name is.
      const applets = (await runText(busybox, ['--list'])).split('\n').filter((a) => a !== '' && a !== 'busybox');
      const realBusybox = await realpath(busybox);
      for (const applet of applets) await cpio.symlink(posix.join(posix.dirname(realBusybox), applet), 'busybox');
      const guestModules = order.map((m) => posix.join('/lib/modules', kernel.release, m));
      for (const [i, m] of order.entries()) await cpio.copy(join(kernel.modulesDir, m), guestModules[i] ?? '');
      await cpio.file('/berth/modules', 0o644, Buffer.from(guestModules.map((m) => `${m}\n`).join('')));
    });
    await writeFile(`${work}.json`, JSON.stringify(Object.fromEntries(known)));
    await rename(work, path);
    await rename(`${work}.json`, manifest);
    await pruneCache(cacheDir);
    return { path, known };
  } finally {
    await rm(work, { force: true });
    await rm(`${work}.json`, { force: true });
  }
}

/** The paths a base archive holds, from its .json manifest; undefined when it is not valid. */
function parseManifest(text: string): Map<string, EntryKind> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (!isRecord(value)) return undefined;
  const entries = Object.entries(value);
  const kinds: readonly unknown[] = ['dir', 'file', 'symlink'];
  return entries.every(([, kind]) => kinds.includes(kind)) ? new Map(entries as [string, EntryKind][]) : undefined;
}

/** Appends one archive to `path` (created when `offset` is 0) and returns the paths in it. */
async function writeArchive(
  path: string,
  offset: number,
  known: Iterable<[string, EntryKind]>,
  fill: (cpio: CpioWriter) => Promise<void>,
): Promise<Map<string, EntryKind>> {
  const out = await open(path, offset === 0 ? 'w' : 'a');
  try {
    const cpio = new CpioWriter(out, known);
    await fill(cpio);
    await cpio.finish(offset);
    return cpio.known;
  } finally {
    await out.close();
  }
}

/** Quotes a word for sh. */
function shQuote(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** The run's own archive after the base: the caller's files and binaries, the command. */
async function appendRunArchive(initrd: string, known: Map<string, EntryKind>, options: GuestOptions, marker: string): Promise<void> {
  const env = Object.entries(options.env ?? {}).map(([k, v]) => {
    if (!/^[A-Za-z_]\w*$/.test(k)) throw new Error(`Cannot pass the environment variable "${k}" to the guest: not a valid name`);
    return `export ${k}=${shQuote(v)}\n`;
  });
  const command = typeof options.command === 'string' ? options.command : `exec ${options.command.map(shQuote).join(' ')}`;
  const timeout = Math.max(1, Math.ceil((options.timeoutMs ?? 60_000) / 1000));
  const libraries = (await Promise.all((options.binaries ?? []).map(sharedLibraries))).flat();
  const { size } = await stat(initrd);
  await writeArchive(initrd, size, known, async (cpio) => {
    for (const file of options.files ?? []) {
      if (!posix.isAbsolute(file.guestPath)) throw new Error(`Guest paths must be absolute: "${file.guestPath}"`);
      if ('hostPath' in file) await cpio.copy(file.hostPath, file.guestPath, file.mode);
      else await cpio.file(file.guestPath, file.mode ?? 0o644, typeof file.data === 'string' ? Buffer.from(file.data) : file.data);
    }
    for (const file of [...(options.binaries ?? []), ...libraries]) await cpio.mirror(file);
    await cpio.file('/berth/marker', 0o644, Buffer.from(`${marker}\n`));
    await cpio.file('/berth/timeout', 0o644, Buffer.from(`${timeout}\n`));
    await cpio.file('/berth/command', 0o755, Buffer.from(`${env.join('')}cd /\n${command}\n`));
    if (options.cgroup?.split('/').includes('..') === true) throw new Error(`The guest cgroup "${options.cgroup}" must not contain ".."`);
    if (options.cgroup !== undefined) await cpio.file('/berth/cgroup', 0o644, Buffer.from(`${options.cgroup.replace(/^\/+/, '')}\n`));
  });
}

// ---- QEMU ------------------------------------------------------------------------------

interface BootInput {
  readonly dir: string;
  readonly kernel: GuestKernel;
  readonly initrd: string;
  readonly accel: GuestAccel;
  readonly marker: string;
  readonly options: GuestOptions;
}

type BootOutput = Pick<GuestResult, 'status' | 'timedOut' | 'output' | 'console' | 'bootMs' | 'guestBootMs' | 'commandMs'>;

function qemuArgs(input: BootInput, consoleLog: string, tscKhz: number | undefined): string[] {
  const { accel, options } = input;
  // cgroup_no_v1=all: no v1 hierarchy can be mounted, as on a unified host.
  let append = 'console=ttyS0 quiet panic=-1 cgroup_no_v1=all pci=off 8250.nr_uarts=2';
  // Under TCG the guest's TSC is the host's, and microvm has no HPET: on a busy host the
  // kernel's calibration against the PIT can fail, and then it hangs. So tell it the rate.
  if (accel === 'tcg' && tscKhz !== undefined) append += ` tsc_early_khz=${tscKhz} tsc=reliable`;
  return [
    '-nodefaults', '-no-user-config', '-no-reboot',
    // microvm (docs/system/i386/microvm.rst): no PCI and no BIOS to speak of; boots in half
    // the time of "pc" under TCG.
    '-machine', `microvm,accel=${accel}`,
    '-cpu', accel === 'kvm' ? 'host' : 'max',
    '-m', String(options.memoryMiB ?? 1024),
    '-smp', String(options.cpus ?? 2),
    '-kernel', input.kernel.vmlinuz, '-initrd', input.initrd, '-append', append,
    '-display', 'none', '-monitor', 'none', '-nic', 'none',
    // ttyS0: the kernel console; ttyS1 (microvm makes only one): the report, read as it comes.
    '-serial', `file:${consoleLog}`,
    '-chardev', 'stdio,id=report,signal=off', '-device', 'isa-serial,chardev=report,iobase=0x2f8,irq=3',
  ];
}

/** The host's TSC rate as /proc/cpuinfo's "cpu MHz" gives it, when it does. */
async function hostTscKhz(): Promise<number | undefined> {
  const cpuinfo = await readFile('/proc/cpuinfo', 'utf8').catch(() => '');
  const mhz = /^cpu MHz\s*:\s*([\d.]+)/m.exec(cpuinfo)?.[1];
  return mhz === undefined ? undefined : Math.round(Number(mhz) * 1000);
}

interface Report {
  readonly output: string;
  readonly end?: { status: number; timedOut: boolean; commandMs: number };
  readonly guestBootMs: number;
}

/**
 * Reads ttyS1: "<marker> READY uptime_ms=N\n<marker> BEGIN\n<output>\n<marker> END
 * status=N timed_out=0|1 command_ms=N\n", where init adds the newline before END.
 */
function parseReport(text: string, marker: string): Report {
  const guestBootMs = Number(/ READY uptime_ms=(\d+)/.exec(text)?.[1] ?? NaN);
  const beginLine = `${marker} BEGIN\n`;
  const begin = text.indexOf(beginLine);
  if (begin < 0) return { output: '', guestBootMs };
  const from = begin + beginLine.length;
  const endAt = text.indexOf(`\n${marker} END `, from - 1);
  const end = endAt < 0 ? null : / END status=(\d+) timed_out=([01]) command_ms=(\d+)\n/.exec(text.slice(endAt));
  const output = text.slice(from, endAt < 0 ? undefined : endAt);
  if (end === null) return { output, guestBootMs };
  return { output, guestBootMs, end: { status: Number(end[1]), timedOut: end[2] === '1', commandMs: Number(end[3]) } };
}

/**
 * Runs QEMU until it exits. It runs under coreutils timeout(1), so that it cannot outlive
 * a test process that dies; on our own timeouts and on abort we signal that wrapper, our
 * child (its pid cannot have been reused), which passes SIGTERM on to QEMU and SIGKILL 2 s
 * later.
 */
async function bootGuest(input: BootInput): Promise<BootOutput> {
  const { marker, options, accel } = input;
  const consoleLog = join(input.dir, 'console.log');
  const bootTimeout = options.bootTimeoutMs ?? (accel === 'kvm' ? 20_000 : 60_000);
  const commandTimeout = options.timeoutMs ?? 60_000;
  const overall = Math.ceil((bootTimeout + commandTimeout + 30_000) / 1000);
  const args = ['--kill-after=2s', `${overall}s`, 'qemu-system-x86_64', ...qemuArgs(input, consoleLog, await hostTscKhz())];
  const started = performance.now();
  const child = spawn('timeout', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const chunks: Buffer[] = [];
  let stderr = '';
  let readyAt: number | undefined;
  let failure: string | undefined;
  let commandTimer: NodeJS.Timeout | undefined;
  const kill = (why: string): void => {
    failure ??= why;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  const bootTimer = setTimeout(() => kill(`the guest did not boot in ${bootTimeout} ms`), bootTimeout);
  child.stdout.on('data', (chunk: Buffer) => {
    chunks.push(chunk);
    if (readyAt === undefined && Buffer.concat(chunks).includes(`${marker} READY`)) {
      readyAt = performance.now();
      clearTimeout(bootTimer);
      // The guest kills the command at its limit itself; this is for a guest that hangs.
      commandTimer = setTimeout(() => kill(`the guest did not finish in ${commandTimeout + 15_000} ms`), commandTimeout + 15_000);
    }
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const onAbort = (): void => kill('the run was aborted');
  options.signal?.addEventListener('abort', onAbort);
  if (options.signal?.aborted === true) onAbort();
  const exit = await new Promise<{ code: number | null; signal: string | null; error?: Error }>((done) => {
    child.on('error', (error) => done({ code: null, signal: null, error }));
    child.on('close', (code, signal) => done({ code, signal }));
  });
  clearTimeout(bootTimer);
  clearTimeout(commandTimer);
  options.signal?.removeEventListener('abort', onAbort);
  const consoleText = (await readFile(consoleLog, 'utf8').catch(() => '')).replaceAll('\r\n', '\n');
  const report = parseReport(Buffer.concat(chunks).toString('utf8'), marker);
  if (failure !== undefined || exit.error !== undefined || report.end === undefined) {
    const how = failure ??
      (exit.error !== undefined ? 'QEMU could not be started' :
        exit.code === 124 ? `QEMU ran over its ${overall} s and was killed` :
          `QEMU exited (${exit.signal ?? `status ${exit.code}`}) before the command finished`);
    const tail = `${stderr.trim()}\n${consoleText.trim().split('\n').slice(-30).join('\n')}`.trim();
    const said = tail === '' ? '' : `; QEMU and the console said:\n${tail}`;
    throw new GuestError(`Guest run failed: ${how}${said}`, consoleText, report.output, { cause: exit.error });
  }
  return {
    ...report.end,
    output: report.output,
    console: consoleText,
    bootMs: Math.round((readyAt ?? performance.now()) - started),
    guestBootMs: report.guestBootMs,
  };
}
