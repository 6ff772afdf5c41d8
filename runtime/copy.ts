/**
 * `berth cp`: copies between a container's file system, reached as `/proc/<pid>/root`
 * (of its process, or of the berth-helper that holds a stopped container's), and the host
 * or a tar stream, with the semantics of `docker cp` (docker/cli
 * cli/command/container/cp.go; moby pkg/archive/copy.go PrepareArchiveCopy): a source
 * ending in "/." copies the directory's contents; an existing destination directory
 * receives the source under its own name, a missing destination is created under the
 * name given; a directory never replaces a file; "-" is a tar stream.
 *
 * Safety: every path inside the container is resolved by runtime/copy/rooted-tree.ts
 * with RESOLVE_IN_ROOT semantics on open descriptors, and everything is created or read
 * relative to those descriptors without following the last component, so no symlink the
 * container placed can make berth, running as root, read or write a host file. See
 * rooted-tree.ts, tree-reader.ts and tree-writer.ts for what is and is not race-free.
 */
import { lstat, readlink, realpath, stat } from 'node:fs/promises';
import { posix } from 'node:path';
import {
  BerthError, FailedPreconditionError, InvalidArgumentError, NotFoundError, isErrnoError,
} from '../common/errors.js';
import { rebaseEntry, type CopyEntry } from './copy/entry.js';
import { RootedTree, type Lookup } from './copy/rooted-tree.js';
import { readTar, writeTar } from './copy/tar-io.js';
import { readTree } from './copy/tree-reader.js';
import { TreeWriter, type OwnerPolicy } from './copy/tree-writer.js';

/** Options of {@link copyFromContainer}. */
export interface CopyFromContainerOptions {
  /** -L: when `srcPath` names a symlink, copy what it points to (resolved inside the container's root). */
  readonly followLink: boolean;
  /** The container's name, for messages ("Could not find the file /x in container NAME"). */
  readonly container?: string | undefined;
}

/** Options of {@link copyToContainer}. */
export interface CopyToContainerOptions {
  /** -a: keep the source's uid and gid; otherwise everything written is owned by the container's root (0:0). */
  readonly archive: boolean;
  /** -L: when a host `src` is a symlink, copy what it points to. */
  readonly followLink?: boolean | undefined;
  /** The container's name, for messages. */
  readonly container?: string | undefined;
}

/**
 * Copies `srcPath` (a path in the container; relative paths start at its "/") to the host
 * path `dest`, or as a tar stream into `dest` (ended when done, unless it is
 * process.stdout). `root` is the container's root, `/proc/<pid>/root` of its live process
 * or of the helper holding its filesystem.
 * Host files are owned by berth's user (docker: by the user running the CLI); as berth
 * runs as root, device nodes are skipped and setuid/setgid bits dropped on the host.
 */
export async function copyFromContainer(
  root: string, srcPath: string, dest: string | NodeJS.WritableStream, options: CopyFromContainerOptions,
): Promise<void> {
  const src = parseCopyPath(srcPath, '/');
  const context = `Cannot copy "${srcPath}" from ${containerLabel(options.container)}`;
  await inContainerRoot(root, context, async (tree) => {
    const found = await lookupSource(tree, src, srcPath, options);
    try {
      const entries = readTree(found.dir, found.name, src.base);
      if (typeof dest === 'string') await copyToHost(entries, found.stats?.isDirectory() === true, src.base, dest);
      else await writeTar(entries, dest);
    } finally {
      await found.close();
    }
  });
}

/** Runs `fn` on the container's root opened as a rooted tree; its errors say `context`. */
async function inContainerRoot(root: string, context: string, fn: (tree: RootedTree) => Promise<void>): Promise<void> {
  const tree = await openContainerRoot(root, context);
  try {
    await fn(tree);
  } catch (err) {
    throw copyError(err, context);
  } finally {
    await tree.close();
  }
}

/**
 * Copies the host path `src`, or the tar archive read from `src`, to `destPath` in the
 * container. A tar archive is extracted into `destPath`, which must be a directory.
 * Everything is written as root; modes are kept, and ownership as {@link CopyToContainerOptions.archive} says.
 */
export async function copyToContainer(
  root: string, src: string | NodeJS.ReadableStream, destPath: string, options: CopyToContainerOptions,
): Promise<void> {
  const dst = parseCopyPath(destPath, '/');
  const target = `${options.container ?? 'container'}:${destPath}`;
  const context = `Cannot copy "${typeof src === 'string' ? src : '-'}" to "${target}"`;
  const owner: OwnerPolicy = options.archive ? 'keep' : { uid: 0, gid: 0 };
  await inContainerRoot(root, context, async (tree) => {
    const found = await lookupDestination(tree, dst, options);
    try {
      const stats = found.stats;
      if (stats !== undefined && !stats.isDirectory() && !stats.isFile()) {
        throw new InvalidArgumentError(`${context}: the destination must be a directory or a regular file`);
      }
      if (typeof src !== 'string') {
        if (stats?.isDirectory() !== true) throw new InvalidArgumentError(`${context}: the destination must be a directory`);
        await writeInto(tree, await tree.enter(found), readTar(src), { owner, base: '', rename: undefined });
        return;
      }
      const source = await openHostSource(src, options.followLink === true);
      try {
        const plan = planCopy(source.isDir, { exists: stats !== undefined, isDir: stats?.isDirectory() === true, assertsDir: dst.assertsDir, name: found.name });
        const into = plan.kind === 'into' ? await tree.enter(found) : await planTarget(tree, found, plan, context, destPath);
        const entries = readTree(source.found.dir, source.found.name, source.base);
        await writeInto(tree, into, entries, { owner, base: source.base, rename: plan.kind === 'as' ? plan.name : undefined });
      } finally {
        await source.close();
      }
    } finally {
      await found.close();
    }
  });
}

/** A path as `docker cp` reads it. */
export interface CopyPath {
  /** Absolute and lexically clean ("/a/b/../c" is "/a/c", as docker's filepath.Join cleans it). */
  readonly clean: string;
  /** Ends with "/." (or is "/"): the directory's contents are copied, not the directory. */
  readonly contents: boolean;
  /** Ends with "/" or "/.": it must be a directory (and a symlink there is followed). */
  readonly assertsDir: boolean;
  /** The name the copied object has in the archive: its base name, or "." for contents. */
  readonly base: string;
}

/** Parses a `docker cp` path, relative to `cwd` (the container's "/", or the host's working directory). */
export function parseCopyPath(path: string, cwd: string): CopyPath {
  const clean = posix.resolve(cwd, path);
  const contents = /(?:^|\/)\.\/*$/.test(path) || clean === '/';
  const assertsDir = contents || path.endsWith('/');
  return { clean, contents, assertsDir, base: contents ? '.' : posix.basename(clean) };
}

/** What the destination of a copy is, as docker's CopyInfo describes it. */
export interface CopyDestination {
  readonly exists: boolean;
  readonly isDir: boolean;
  /** The destination path ends with "/" or "/.". */
  readonly assertsDir: boolean;
  /** Its base name (after following a symlink there). */
  readonly name: string;
}

/** Where the archive goes: into the destination directory as it is, or into its parent with the top entry renamed. */
export type CopyPlan =
  | { readonly kind: 'into' }
  | { readonly kind: 'as'; readonly name: string }
  | { readonly kind: 'dir-onto-file' }
  | { readonly kind: 'missing-dir' };

/** docker's PrepareArchiveCopy (moby pkg/archive/copy.go), as a decision. */
export function planCopy(sourceIsDir: boolean, dest: CopyDestination): CopyPlan {
  if (dest.exists && dest.isDir) return { kind: 'into' };
  if (dest.exists && sourceIsDir) return { kind: 'dir-onto-file' };
  if (!dest.exists && !sourceIsDir && dest.assertsDir) return { kind: 'missing-dir' };
  return { kind: 'as', name: dest.name };
}

function containerLabel(name: string | undefined): string {
  return name === undefined ? 'the container' : `container "${name}"`;
}

async function openContainerRoot(root: string, context: string): Promise<RootedTree> {
  try {
    return await RootedTree.open(root);
  } catch (err) {
    throw new FailedPreconditionError(`${context}: the container's root "${root}" cannot be opened: ${reasonOf(err)}`, {
      hint: 'The container may have stopped or been removed meanwhile; try again', cause: err,
    });
  }
}

/** The source in the container; NotFoundError with docker's message when it is missing. */
async function lookupSource(tree: RootedTree, src: CopyPath, srcPath: string, options: CopyFromContainerOptions): Promise<Lookup> {
  const notFound = (cause?: unknown): NotFoundError =>
    new NotFoundError(`Could not find the file ${srcPath} in ${options.container === undefined ? 'the container' : `container ${options.container}`}`, { cause });
  let found: Lookup;
  try {
    found = await tree.lookup(src.clean, { followLast: src.assertsDir || options.followLink });
  } catch (err) {
    if (isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ENOTDIR')) throw notFound(err);
    throw err;
  }
  if (found.stats === undefined || (src.assertsDir && !found.stats.isDirectory())) {
    const isFile = found.stats !== undefined;
    await found.close();
    if (isFile) throw new InvalidArgumentError(`Cannot copy "${srcPath}" from ${containerLabel(options.container)}: it is not a directory`);
    throw notFound();
  }
  return found;
}

/** The destination in the container, a symlink there followed inside its root (docker's CLI follows it too). */
async function lookupDestination(tree: RootedTree, dst: CopyPath, options: CopyToContainerOptions): Promise<Lookup> {
  try {
    return await tree.lookup(dst.clean, { followLast: true });
  } catch (err) {
    if (!isErrnoError(err, 'ENOENT')) throw err;
    const parent = posix.dirname(dst.clean);
    throw new NotFoundError(`Could not find the file ${parent} in ${options.container === undefined ? 'the container' : `container ${options.container}`}`, {
      hint: 'The destination\'s parent directory must exist: "berth cp" does not create it', cause: err,
    });
  }
}

/** The directory a plan extracts into when it is not the destination itself: the destination's parent. */
async function planTarget(tree: RootedTree, found: Lookup, plan: CopyPlan, context: string, destPath: string): Promise<Lookup> {
  if (plan.kind === 'dir-onto-file') throw new InvalidArgumentError(`${context}: cannot copy a directory to a file`);
  if (plan.kind === 'missing-dir') {
    throw new NotFoundError(`${context}: directory "${destPath}" does not exist`, { hint: 'Create the directory first, or drop the trailing "/"' });
  }
  return tree.lookup('', { followLast: true, wantDir: true, from: found, adopt: true });
}

/** Writes `entries` into the directory `into` ends in (and closes `into`). */
async function writeInto(
  tree: RootedTree, into: Lookup, entries: AsyncIterable<CopyEntry>,
  options: { owner: OwnerPolicy; base: string; rename: string | undefined; toHost?: boolean },
): Promise<void> {
  const writer = new TreeWriter(tree, into, { owner: options.owner, toHost: options.toHost === true });
  try {
    for await (const entry of entries) await writer.write(rebaseEntry(entry, options.base, options.rename));
    await writer.finish();
  } finally {
    await writer.close();
    await into.close();
  }
}

/** Extracts container entries on the host, docker's CopyTo with CopyInfoDestinationPath. */
async function copyToHost(entries: AsyncIterable<CopyEntry>, sourceIsDir: boolean, base: string, dest: string): Promise<void> {
  const target = await hostDestination(dest);
  const plan = planCopy(sourceIsDir, target);
  if (plan.kind === 'dir-onto-file') throw new InvalidArgumentError(`Cannot copy a directory to "${dest}": it is a file`);
  if (plan.kind === 'missing-dir') throw new NotFoundError(`Cannot copy to "${dest}": the directory does not exist`);
  const dir = plan.kind === 'into' ? target.path : posix.dirname(target.path);
  // The destination directory is the root of what is written: a symlink under it, old or
  // made by the copy, is resolved inside it.
  const hostTree = await RootedTree.open(dir, dir);
  try {
    const into = await hostTree.lookup('', { followLast: true, wantDir: true });
    await writeInto(hostTree, into, entries, { owner: 'none', base, rename: plan.kind === 'as' ? plan.name : undefined, toHost: true });
  } finally {
    await hostTree.close();
  }
}

/** A host destination path, a symlink at its end followed (at most 10), as docker's CopyInfoDestinationPath. */
async function hostDestination(dest: string): Promise<CopyDestination & { path: string }> {
  const parsed = parseCopyPath(dest, process.cwd());
  let path = parsed.clean;
  for (let links = 0; ; links++) {
    const stats = await lstat(path).catch((err: unknown) => {
      if (isErrnoError(err, 'ENOENT')) return undefined;
      throw err;
    });
    if (stats === undefined) break;
    if (!stats.isSymbolicLink()) return { path, exists: true, isDir: stats.isDirectory(), assertsDir: parsed.assertsDir, name: posix.basename(path) };
    if (links >= 10) throw new InvalidArgumentError(`Cannot copy to "${dest}": too many symlinks`);
    path = posix.resolve(posix.dirname(path), await readlink(path));
  }
  const parent = parsed.contents ? path : posix.dirname(path);
  const parentStats = await stat(parent).catch((err: unknown) => {
    if (isErrnoError(err, 'ENOENT')) throw new NotFoundError(`Cannot copy to "${dest}": directory "${parent}" does not exist`, { cause: err });
    throw err;
  });
  if (!parentStats.isDirectory()) throw new InvalidArgumentError(`Cannot copy to "${dest}": "${parent}" is not a directory`);
  return { path, exists: false, isDir: false, assertsDir: parsed.assertsDir, name: posix.basename(path) };
}

/** A host source, opened: the tree it is read from, what is copied and its archive name. */
interface HostSource {
  readonly found: Lookup;
  readonly isDir: boolean;
  readonly base: string;
  close(): Promise<void>;
}

/** docker's CopyInfoSourcePath: symlinks before the last component are followed (all of them with -L or a trailing "/"). */
async function openHostSource(src: string, followLink: boolean): Promise<HostSource> {
  const parsed = parseCopyPath(src, process.cwd());
  let dir: string;
  let name: string;
  try {
    if (parsed.assertsDir) {
      dir = await realpath(parsed.clean);
      name = '';
    } else if (followLink) {
      const real = await realpath(parsed.clean);
      [dir, name] = real === '/' ? ['/', ''] : [posix.dirname(real), posix.basename(real)];
    } else {
      [dir, name] = [await realpath(posix.dirname(parsed.clean)), posix.basename(parsed.clean)];
    }
  } catch (err) {
    if (isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ENOTDIR')) throw new NotFoundError(`Cannot copy "${src}": it does not exist`, { cause: err });
    throw err;
  }
  const tree = await RootedTree.open(dir, dir);
  try {
    const found = await tree.lookup(name, { followLast: false });
    if (found.stats === undefined) throw new NotFoundError(`Cannot copy "${src}": it does not exist`);
    if (parsed.assertsDir && !found.stats.isDirectory()) throw new InvalidArgumentError(`Cannot copy "${src}": it is not a directory`);
    return {
      found, isDir: found.stats.isDirectory(), base: parsed.base,
      close: async () => {
        await found.close();
        await tree.close();
      },
    };
  } catch (err) {
    await tree.close();
    throw err;
  }
}

/** `err` as a BerthError that says what was being done. */
function copyError(err: unknown, context: string): BerthError {
  if (err instanceof BerthError) return err;
  const reason = reasonOf(err);
  if (isErrnoError(err, 'ENOENT')) return new NotFoundError(`${context}: ${reason}`, { cause: err });
  if (isErrnoError(err, 'ENOTDIR') || isErrnoError(err, 'ELOOP') || isErrnoError(err, 'EILSEQ')) {
    return new InvalidArgumentError(`${context}: ${reason}`, { cause: err });
  }
  if (isErrnoError(err, 'EROFS')) return new FailedPreconditionError(`${context}: ${reason}`, { hint: 'The destination is mounted read-only', cause: err });
  return new FailedPreconditionError(`${context}: ${reason}`, { cause: err });
}

/** An error's reason without Node's "CODE: " prefix, and with its path unless it is a /proc/self/fd one. */
function reasonOf(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  if (!isErrnoError(err)) return err.message;
  const description = err.message.replace(/^[A-Z]+: /, '').replace(/, \w+ '.*'$/, '').replace(/, '.*'$/, '');
  const path = err.path;
  return path === undefined || path.startsWith('/proc/self/fd/') ? description : `${description}: "${path}"`;
}
