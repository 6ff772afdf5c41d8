/**
 * Shared setup of the unpacker's integration tests: a sentinel directory around the layer
 * directory, and a snapshot of everything outside the layer to prove nothing changed.
 */
import { lstat, mkdir, mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export { buildTar, endOfArchive, pad, paxHeader, rawFile, rawHeader } from '../unit/image/unpack/tar-fixtures.js';

/**
 * A sentinel tree: `<parent>/p1/p2/layer` is the (empty) layer directory, so that a `..`
 * that escaped would land in p2, p1 or parent. The parent holds bait an escape would touch:
 * `outside.txt`, `outside-dir/` and `p1/p2/bait`.
 */
export interface Sentinel {
  readonly parent: string;
  readonly layer: string;
  readonly outsideFile: string;
  readonly outsideDir: string;
  /** A snapshot of everything under `parent` except the layer directory. */
  snapshot(): Promise<string[]>;
  remove(): Promise<void>;
}

/** Creates a {@link Sentinel} under the system temp dir. */
export async function createSentinel(): Promise<Sentinel> {
  const parent = await mkdtemp(join(tmpdir(), 'berth-unpack-sentinel-'));
  const layer = join(parent, 'p1/p2/layer');
  await mkdir(layer, { recursive: true });
  const outsideFile = join(parent, 'outside.txt');
  const outsideDir = join(parent, 'outside-dir');
  await writeFile(outsideFile, 'outside\n', { mode: 0o644 });
  await mkdir(outsideDir, { mode: 0o755 });
  await writeFile(join(parent, 'p1/p2/bait'), 'bait\n');
  for (const path of [outsideFile, outsideDir, join(parent, 'p1/p2/bait')]) await utimes(path, 1_000_000_000, 1_000_000_000);
  return {
    parent,
    layer,
    outsideFile,
    outsideDir,
    snapshot: () => snapshotTree(parent, layer),
    remove: () => rm(parent, { recursive: true, force: true }),
  };
}

/**
 * Every path under `root` (but not under `exclude`) with its type, mode, owner, size,
 * inode, link count and times, sorted: equal snapshots mean nothing was touched.
 */
export async function snapshotTree(root: string, exclude: string): Promise<string[]> {
  const lines: string[] = [];
  async function walk(dir: string): Promise<void> {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      if (path === exclude) continue;
      const s = await lstat(path);
      lines.push(`${path} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${s.size} ino=${s.ino} nlink=${s.nlink} m=${s.mtimeMs} c=${s.ctimeMs}`);
      if (s.isDirectory()) await walk(path);
    }
  }
  const top = await lstat(root);
  lines.push(`${root} ${top.mode.toString(8)} ${top.uid}:${top.gid} m=${top.mtimeMs}`);
  await walk(root);
  return lines.sort();
}

/** The identity of a host file an escape could reach: changes if it is written or linked. */
export async function hostFileState(path: string): Promise<string> {
  const s = await lstat(path);
  return `${s.ino} ${s.nlink} ${s.mode.toString(8)} ${s.uid}:${s.gid} ${s.size} ${s.mtimeMs} ${s.ctimeMs}`;
}

/** True when `path` exists (without following a final symlink). */
export async function exists(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}
