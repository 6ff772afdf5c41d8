/**
 * The benchmark's test image: five gzip layers of real files from this machine (libraries,
 * a JDK, binaries, docs, a Java application), about 300 MB of tar and 205 MB of gzip,
 * written as an OCI image layout. Built once with the `tar` and `gzip -6` CLIs and cached
 * under {@link defaultCacheRoot}, keyed by {@link imageVersion}, so later runs reuse it.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, stat, writeFile, lstat } from 'node:fs/promises';
import { join } from 'node:path';
import { check } from './proc.js';

/** Where built layouts are kept between runs. */
export const defaultCacheRoot = '/var/tmp/berth-bench-cache';

/** Bump when the layer recipe changes, so an old cached layout is not reused. */
export const imageVersion = 'pull-v1';

/** The tag inside the OCI layout. */
export const layoutTag = 'latest';

/** One layer's recipe: files under `roots` (sorted walk) until the tar reaches `budget` bytes. */
export interface LayerRecipe {
  readonly name: string;
  readonly roots: readonly string[];
  readonly budget: number;
}

const MB = 1_000_000;

/**
 * Shaped like a Java application image: a base of shared libraries (compresses ~3:1), a JDK
 * whose jmods are already compressed, tools, docs (mostly .gz already), and an application
 * of jars and scripts. Together ~300 MB of tar and ~205 MB of gzip, the ratio of the image
 * the issue measured (325 MB / 213 MB).
 */
export const layerRecipes: readonly LayerRecipe[] = [
  { name: 'base libraries', roots: ['/usr/lib/x86_64-linux-gnu'], budget: 55 * MB },
  { name: 'jdk', roots: ['/usr/lib/jvm/java-17-openjdk-amd64'], budget: 105 * MB },
  { name: 'tools', roots: ['/usr/bin'], budget: 40 * MB },
  { name: 'docs', roots: ['/usr/share/man', '/usr/share/doc'], budget: 30 * MB },
  {
    name: 'application',
    roots: ['cloud-firestore-emulator', 'google_appengine/google/appengine/tools/java'].map((d) => `/usr/lib/google-cloud-sdk/platform/${d}`),
    budget: 70 * MB,
  },
];

/** One built layer. */
export interface BenchLayer {
  readonly name: string;
  /** sha256 of the gzip blob. */
  readonly digest: string;
  /** Bytes of the gzip blob. */
  readonly size: number;
  /** sha256 of the uncompressed tar. */
  readonly diffId: string;
  readonly tarSize: number;
  /** Entries in the tar (files, directories, links). */
  readonly entries: number;
}

/** A built image layout. */
export interface BenchImage {
  readonly version: string;
  /** The OCI layout directory (`oci:DIR:TAG` for skopeo). */
  readonly layoutDir: string;
  readonly manifestDigest: string;
  readonly layers: readonly BenchLayer[];
}

/** Paths of the layer blobs inside the layout, in layer order. */
export function layerBlobPaths(image: BenchImage): string[] {
  return image.layers.map((l) => join(image.layoutDir, 'blobs', 'sha256', l.digest.slice('sha256:'.length)));
}

/** Returns the cached layout, building it first if it is missing. */
export async function ensureImage(cacheRoot: string, log: (line: string) => void): Promise<BenchImage> {
  const dir = join(cacheRoot, imageVersion);
  const cached = await readImage(dir);
  if (cached !== undefined) return cached;
  log(`building the test image (once) into ${dir}`);
  await mkdir(cacheRoot, { recursive: true });
  const staging = await mkdtemp(join(cacheRoot, `.${imageVersion}.`));
  try {
    await buildLayout(staging, log);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  const built = await readImage(dir);
  if (built === undefined) throw new Error(`The image built in "${dir}" cannot be read back`);
  return built;
}

/** Reads `dir/image.json` written by {@link buildLayout}; undefined when absent or not ours. */
async function readImage(dir: string): Promise<BenchImage | undefined> {
  let raw: unknown;
  try {
    raw = JSON.parse(await readFile(join(dir, 'image.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof raw !== 'object' || raw === null) return undefined;
  const r = raw as Record<string, unknown>;
  if (r['version'] !== imageVersion || typeof r['manifestDigest'] !== 'string' || !Array.isArray(r['layers'])) return undefined;
  const layers: BenchLayer[] = [];
  for (const item of r['layers'] as unknown[]) {
    const l = item as Record<string, unknown>;
    const { name, digest, size, diffId, tarSize, entries } = l;
    if (typeof name !== 'string' || typeof digest !== 'string' || typeof diffId !== 'string') return undefined;
    if (typeof size !== 'number' || typeof tarSize !== 'number' || typeof entries !== 'number') return undefined;
    layers.push({ name, digest, size, diffId, tarSize, entries });
  }
  return { version: imageVersion, layoutDir: join(dir, 'oci'), manifestDigest: r['manifestDigest'], layers };
}

/** Builds the layout into `dir/oci` and its summary into `dir/image.json`. */
async function buildLayout(dir: string, log: (line: string) => void): Promise<void> {
  const blobs = join(dir, 'oci', 'blobs', 'sha256');
  await mkdir(blobs, { recursive: true });
  // Two layers at a time: tar and gzip are single-threaded.
  const layers: BenchLayer[] = new Array<BenchLayer>(layerRecipes.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    for (let i = next++; i < layerRecipes.length; i = next++) {
      const recipe = layerRecipes[i];
      if (recipe === undefined) continue;
      layers[i] = await buildLayer(recipe, join(dir, `layer${i}`), blobs);
      log(`  layer ${i + 1} (${recipe.name}): ${(layers[i]?.tarSize ?? 0) / MB} MB tar, ${(layers[i]?.size ?? 0) / MB} MB gzip`);
    }
  };
  await Promise.all([worker(), worker()]);
  const config = {
    created: '2025-01-01T00:00:00Z',
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64',
    os: 'linux',
    config: { Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], Cmd: ['/usr/bin/bash'] },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layerRecipes.map((r) => ({ created: '2025-01-01T00:00:00Z', created_by: `berth bench: ${r.name} from ${r.roots.join(' ')}` })),
  };
  const configBlob = await writeBlob(blobs, JSON.stringify(config));
  const manifest = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: l.digest, size: l.size })),
  };
  const manifestBlob = await writeBlob(blobs, JSON.stringify(manifest));
  const index = {
    schemaVersion: 2,
    manifests: [{
      mediaType: manifest.mediaType, digest: manifestBlob.digest, size: manifestBlob.size,
      annotations: { 'org.opencontainers.image.ref.name': layoutTag },
    }],
  };
  await writeFile(join(dir, 'oci', 'index.json'), JSON.stringify(index));
  await writeFile(join(dir, 'oci', 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const summary = { version: imageVersion, manifestDigest: manifestBlob.digest, layers, recipes: layerRecipes };
  await writeFile(join(dir, 'image.json'), `${JSON.stringify(summary, null, 2)}\n`);
}

/** Writes one layer: picks its files, `tar` them, `gzip -6 -n` the tar, moves the blob in place. */
async function buildLayer(recipe: LayerRecipe, work: string, blobs: string): Promise<BenchLayer> {
  await mkdir(work);
  const names = await pickFiles(recipe);
  const listPath = join(work, 'files');
  await writeFile(listPath, `${names.join('\0')}\0`);
  const tarPath = join(work, 'layer.tar');
  await check({ file: 'tar', args: ['-C', '/', '--no-recursion', '--null', '-T', listPath, '--numeric-owner', '-cf', tarPath] });
  const gzPath = join(work, 'layer.tar.gz');
  await check({ file: 'gzip', args: ['-6', '-n', '-k', tarPath] });
  const tarSize = (await stat(tarPath)).size;
  const diffId = await sha256File(tarPath);
  const digest = await sha256File(gzPath);
  const size = (await stat(gzPath)).size;
  await rename(gzPath, join(blobs, digest.slice('sha256:'.length)));
  await rm(work, { recursive: true, force: true });
  return { name: recipe.name, digest, size, diffId, tarSize, entries: names.length };
}

/**
 * The tar's member list (relative to /): a sorted walk of the roots taking regular files and
 * symlinks while they fit the budget (header plus 512-byte padded data), each preceded by
 * the directories above it, so the layer reads like one a Dockerfile would produce.
 */
async function pickFiles(recipe: LayerRecipe): Promise<string[]> {
  const names: string[] = [];
  const emitted = new Set<string>();
  // tar stores a second name of a hard-linked file as a link, without its data.
  const inodes = new Set<string>();
  let left = recipe.budget;
  const addDirs = (rel: string): void => {
    const parts = rel.split('/');
    for (let i = 1; i < parts.length; i++) {
      const d = parts.slice(0, i).join('/');
      if (!emitted.has(d)) {
        emitted.add(d);
        names.push(d);
        left -= 512;
      }
    }
  };
  const walk = async (abs: string): Promise<void> => {
    const entries = (await readdir(abs, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const e of entries) {
      if (left < 4096) return;
      const path = join(abs, e.name);
      if (e.isDirectory()) {
        await walk(path);
      } else if (e.isFile() || e.isSymbolicLink()) {
        const st = await lstat(path);
        const inode = `${st.dev}:${st.ino}`;
        const cost = 512 + (e.isFile() && !inodes.has(inode) ? Math.ceil(st.size / 512) * 512 : 0);
        if (cost > left) continue;
        inodes.add(inode);
        addDirs(path.slice(1));
        names.push(path.slice(1));
        left -= cost;
      }
    }
  };
  for (const root of recipe.roots) await walk(root);
  return names;
}

async function writeBlob(blobs: string, text: string): Promise<{ digest: string; size: number }> {
  const data = Buffer.from(text);
  const hex = createHash('sha256').update(data).digest('hex');
  await writeFile(join(blobs, hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return `sha256:${hash.digest('hex')}`;
}
