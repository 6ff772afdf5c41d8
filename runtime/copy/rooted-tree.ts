/**
 * Path resolution inside a directory tree treated as "/": a container's root
 * (`/proc/<pid>/root`), or a host directory being written into. It has the semantics of
 * openat2(2) RESOLVE_IN_ROOT: an absolute symlink restarts at the tree's root, ".." never
 * climbs above it, and nothing the tree contains can make a lookup leave it.
 *
 * Why not `fsx.resolveInRoot`: it returns the resolved path as a string read back from
 * /proc/self/fd/N. For a container's root, which lives in another mount namespace, the
 * kernel prints that path as the container sees it ("/etc"), and on the host that string
 * names the host's /etc: the CVE-2018-15664 class of bug this module exists to prevent
 * (checked by test/integration/cp-copy.test.ts against a real pivot_root).
 *
 * So the walk is done here, one name at a time, on open directory descriptors. Node has no
 * *at() calls; every operation names its object as `/proc/self/fd/<dirfd>/<name>` (see
 * {@link at}): the kernel jumps through the magic link to the exact directory the
 * descriptor holds and looks up one name in it, which is openat(dirfd, name). Directories
 * are opened O_PATH | O_DIRECTORY | O_NOFOLLOW, so a name swapped for a symlink between
 * the lstat and the open fails the open (ELOOP / ENOTDIR) instead of being followed; the
 * walk then looks at that name again. Symlinks are read and followed by this code, never
 * by the kernel. What is left racy is documented on {@link TreeWriter} and the readers.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, mkdir, open, readlink, statfs, type FileHandle } from 'node:fs/promises';
import { isErrnoError } from '../../common/errors.js';

/** O_PATH (open(2)): a descriptor for path operations only, never reading the object. Linux generic value. */
export const O_PATH = 0o10000000;
const dirFlags = O_PATH | constants.O_DIRECTORY | constants.O_NOFOLLOW;
/** MAXSYMLINKS in the kernel: symlinks followed in one lookup, as path_resolution(7) allows. */
const maxLinks = 40;

/** An open directory of a tree. `path` is where it was reached, as seen from the tree's root, for messages. */
export interface DirRef {
  readonly handle: FileHandle;
  readonly path: string;
  readonly dev: number;
}

/** The path that names `name` inside `dir` (openat(dir, name)), or `dir` itself when `name` is empty. */
export function at(dir: DirRef, name = ''): string {
  return fdPath(dir.handle, name);
}

/**
 * `/proc/self/fd/N[/name]`. Without a name it is the object the descriptor holds, whatever
 * its type: path calls that follow it (chown, chmod, utimes, open) act on that very inode,
 * a symlink included, which is how fchownat(fd, "", AT_EMPTY_PATH) is spelled without *at().
 */
export function fdPath(handle: FileHandle, name = ''): string {
  return name === '' ? `/proc/self/fd/${handle.fd}` : `/proc/self/fd/${handle.fd}/${name}`;
}

/** Joins a tree path (starting with "/") and a name. */
export function childPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

/** Options of {@link RootedTree.lookup}. */
export interface LookupOptions {
  /** Follow a symlink in the last component too. */
  readonly followLast: boolean;
  /** Resolve the whole path as a directory and end inside it (the result's `name` is ''). */
  readonly wantDir?: boolean | undefined;
  /** Create missing directories on the way (mode 0755), as docker's untar creates parents; the last component too with `wantDir`. */
  readonly create?: boolean | undefined;
  /**
   * Start where this lookup ended instead of at the root (for relative paths). With `adopt`
   * the new lookup takes over the directories `from` holds open, and `from` is left empty.
   */
  readonly from?: Lookup | undefined;
  readonly adopt?: boolean | undefined;
}

/**
 * Where a lookup ended: the open directories from the root (`dirs[0]`) down to the one that
 * holds `name`, and what is there. Holds descriptors until {@link close}.
 */
export class Lookup {
  readonly dirs: readonly DirRef[];
  /** The directory that holds `name` (the named directory itself when `name` is ''): the last of `dirs`. */
  readonly dir: DirRef;
  /** The last component; '' when the lookup names `dir` itself. */
  readonly name: string;
  /** lstat(2) of the entry (after following it, with followLast); fstat(2) of the directory when `name` is ''; undefined when missing. */
  readonly stats: Stats | undefined;
  #owned: DirRef[];

  constructor(dirs: readonly DirRef[], dir: DirRef, name: string, stats: Stats | undefined, owned: DirRef[]) {
    this.dirs = dirs;
    this.dir = dir;
    this.name = name;
    this.stats = stats;
    this.#owned = owned;
  }

  /** The path of what the lookup names, as seen from the tree's root. */
  get path(): string {
    return this.name === '' ? this.dir.path : childPath(this.dir.path, this.name);
  }

  /** Hands the descriptors this lookup owns to a caller that continues from it. */
  takeOwned(): DirRef[] {
    const owned = this.#owned;
    this.#owned = [];
    return owned;
  }

  /** Closes the descriptors this lookup opened. */
  async close(): Promise<void> {
    const owned = this.takeOwned();
    await Promise.all(owned.map((dir) => dir.handle.close()));
  }
}

/** A directory tree opened as a root; see the module comment. */
export class RootedTree {
  readonly root: DirRef;

  private constructor(root: DirRef) {
    this.root = root;
  }

  /**
   * Opens `path` as the root. `path` itself is resolved by the kernel as given (it may be
   * the `/proc/<pid>/root` magic link): the caller chose it. Messages show paths under
   * `shownAs`: "/" for a container's root, the directory itself for a host one.
   */
  static async open(path: string, shownAs = '/'): Promise<RootedTree> {
    const handle = await open(path, O_PATH | constants.O_DIRECTORY);
    try {
      const stats = await handle.stat();
      return new RootedTree({ handle, path: shownAs, dev: stats.dev });
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  async close(): Promise<void> {
    await this.root.handle.close();
  }

  /**
   * Resolves `path` inside the tree (see the module comment). A missing last component
   * gives `stats: undefined`; a missing or non-directory component before it throws an
   * errno error (ENOENT, ENOTDIR), as do symlink loops (ELOOP). The caller closes the result.
   */
  async lookup(path: string, options: LookupOptions): Promise<Lookup> {
    const walk = new Walk(this.root, options);
    try {
      return await walk.run(path);
    } catch (err) {
      await walk.closeOwned();
      throw err;
    }
  }

  /** The directory a lookup names, opened: the lookup itself when it already ends inside it. */
  async enter(lookup: Lookup): Promise<Lookup> {
    if (lookup.name === '') return lookup;
    return this.lookup(lookup.name, { followLast: true, wantDir: true, from: lookup, adopt: true });
  }
}

/** One lookup's state: the stack of open directories and the names still to resolve. */
class Walk {
  readonly #root: DirRef;
  readonly #options: LookupOptions;
  readonly #stack: DirRef[];
  readonly #owned = new Set<DirRef>();
  #links = 0;

  constructor(root: DirRef, options: LookupOptions) {
    this.#root = root;
    this.#options = options;
    const from = options.from;
    this.#stack = from === undefined ? [root] : [...from.dirs];
    if (from !== undefined && options.adopt === true) for (const dir of from.takeOwned()) this.#owned.add(dir);
  }

  async run(path: string): Promise<Lookup> {
    if (path.startsWith('/')) await this.#toRoot();
    const pending = components(path).reverse();
    const wantDir = this.#options.wantDir === true;
    for (let part = pending.pop(); part !== undefined; part = pending.pop()) {
      if (part === '..') {
        await this.#pop();
        continue;
      }
      const isLast = pending.length === 0 && !wantDir;
      const top = this.#top();
      const stats = await lstatOrUndefined(at(top, part));
      if (stats === undefined) {
        if (isLast) return this.#result(part, undefined);
        if (this.#options.create !== true) throw errnoError('ENOENT', 'no such file or directory', childPath(top.path, part));
        // Counted: something removing it again and again must not keep the walk going.
        this.#step(childPath(top.path, part));
        await mkdirIfMissing(at(top, part));
        pending.push(part);
        continue;
      }
      if (stats.isSymbolicLink() && (!isLast || this.#options.followLast)) {
        const target = await this.#readLink(top, part);
        if (target === undefined) pending.push(part);
        else {
          if (target.startsWith('/')) await this.#toRoot();
          pending.push(...components(target).reverse());
        }
        continue;
      }
      if (isLast) return this.#result(part, stats);
      if (!stats.isDirectory()) throw errnoError('ENOTDIR', 'not a directory', childPath(top.path, part));
      if (!(await this.#push(top, part))) pending.push(part);
    }
    const top = this.#top();
    return new Lookup([...this.#stack], top, '', await top.handle.stat(), this.#takeOwned());
  }

  async closeOwned(): Promise<void> {
    await Promise.all(this.#takeOwned().map((dir) => dir.handle.close()));
  }

  /** The directory the walk is in; the stack is never empty (#pop keeps the root). */
  #top(): DirRef {
    return this.#stack.at(-1) ?? this.#root;
  }

  #result(name: string, stats: Stats | undefined): Lookup {
    return new Lookup([...this.#stack], this.#top(), name, stats, this.#takeOwned());
  }

  #takeOwned(): DirRef[] {
    const owned = [...this.#owned];
    this.#owned.clear();
    return owned;
  }

  /** Counts one more step that may repeat (a symlink, or a name that changed under us). */
  #step(path: string): void {
    if (++this.#links > maxLinks) throw errnoError('ELOOP', 'too many levels of symbolic links', path);
  }

  /** The symlink's target, or undefined when the name is no longer a symlink (look again). */
  async #readLink(top: DirRef, part: string): Promise<string | undefined> {
    const path = childPath(top.path, part);
    this.#step(path);
    let raw: Buffer;
    try {
      raw = await readlink(at(top, part), { encoding: 'buffer' });
    } catch (err) {
      if (isErrnoError(err, 'EINVAL') || isErrnoError(err, 'ENOENT')) return undefined;
      throw err;
    }
    if (raw.length === 0) throw errnoError('ENOENT', 'no such file or directory', path);
    return utf8Name(raw, path);
  }

  /** Opens directory `part` of `top` and pushes it; false when it changed meanwhile (look again). */
  async #push(top: DirRef, part: string): Promise<boolean> {
    const path = childPath(top.path, part);
    let handle: FileHandle;
    try {
      handle = await open(at(top, part), dirFlags);
    } catch (err) {
      if (!isErrnoError(err, 'ELOOP') && !isErrnoError(err, 'ENOTDIR') && !isErrnoError(err, 'ENOENT')) throw err;
      this.#step(path);
      return false;
    }
    let dev: number;
    try {
      dev = (await handle.stat()).dev;
    } catch (err) {
      await handle.close();
      throw err;
    }
    const dir: DirRef = { handle, path, dev };
    this.#stack.push(dir);
    this.#owned.add(dir);
    return true;
  }

  async #pop(): Promise<void> {
    if (this.#stack.length <= 1) return;
    const dir = this.#stack.pop();
    if (dir !== undefined && this.#owned.delete(dir)) await dir.handle.close();
  }

  /** Back to the tree's root, which every lookup's stack starts with. */
  async #toRoot(): Promise<void> {
    while (this.#stack.length > 1) await this.#pop();
  }
}

/** The names of a path, without empty and "." components (".." is kept: it is resolved by the walk). */
export function components(path: string): string[] {
  return path.split('/').filter((part) => part !== '' && part !== '.');
}

/** A name read from the file system as bytes, refused unless it is UTF-8 (Node's strings would alter it). */
export function utf8Name(raw: Buffer, where: string): string {
  const name = raw.toString('utf8');
  if (!Buffer.from(name, 'utf8').equals(raw)) throw errnoError('EILSEQ', 'name is not valid UTF-8', where);
  return name;
}

/** lstat(2), or undefined when nothing is there. */
export async function lstatOrUndefined(path: string): Promise<Stats | undefined> {
  try {
    return await lstat(path);
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return undefined;
    throw err;
  }
}

async function mkdirIfMissing(path: string): Promise<void> {
  try {
    await mkdir(path, 0o755);
  } catch (err) {
    if (!isErrnoError(err, 'EEXIST')) throw err;
  }
}

/** A Node-style system error, as fs calls throw them; copy.ts turns these into BerthErrors. */
export function errnoError(code: string, description: string, path: string): NodeJS.ErrnoException {
  const err: NodeJS.ErrnoException = new Error(`${code}: ${description}, '${path}'`);
  err.code = code;
  err.path = path;
  return err;
}

/**
 * Pseudo file systems (statfs(2) f_type) that a copy neither reads below nor writes into:
 * they are the live kernel state of the container (or host), not files. docker never sees
 * them, as it copies from the container's storage rather than its live mounts.
 */
const pseudoFileSystems = new Map<number, string>([
  [0x9fa0, 'proc'],
  [0x62656572, 'sysfs'],
  [0x27e0eb, 'cgroup'],
  [0x63677270, 'cgroup2'],
  [0x1cd1, 'devpts'],
  [0x19800202, 'mqueue'],
  [0x64626720, 'debugfs'],
  [0x74726163, 'tracefs'],
  [0x73636673, 'securityfs'],
  [0xcafe4a11, 'bpf'],
  [0x62656570, 'configfs'],
  [0xde5e81e4, 'efivarfs'],
  [0x6165676c, 'pstore'],
  [0x65735543, 'fusectl'],
  [0xf97cff8c, 'selinuxfs'],
  [0x42494e4d, 'binfmt_misc'],
  [0x6e736673, 'nsfs'],
]);

/** The name of the pseudo file system `dir` is on, or undefined for a real one. */
export async function pseudoFileSystem(dir: DirRef): Promise<string | undefined> {
  const { type } = await statfs(at(dir));
  return pseudoFileSystems.get(type >>> 0);
}
