/**
 * Hostile images for container security tests: {@link pushImage} builds an image from a
 * spec (usually the probe image plus one crafted layer, so the tar itself holds the
 * symlinks), pushes it to the harness's registry with skopeo and pulls it with berth, as
 * a user would get it. {@link makeCanary} makes a host directory that such an image points
 * its symlinks at, and says afterwards whether anything on the host was written there or
 * mounted at or under it.
 */
import { randomBytes } from 'node:crypto';
import { lstat, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerHarness } from './containers.js';
import { removeDir, run } from './exec.js';
import { writeOciLayout, type ImageSpec } from './oci-layout.js';
import { pushLayout } from './push.js';
import { diffTrees, formatDifferences, snapshotTree } from './tree.js';

/** A host directory that must stay as it was made; see {@link makeCanary}. */
export interface Canary {
  /** `/tmp/berth-canary-<hex>`: absolute, so image symlinks can name it. */
  readonly dir: string;
  /**
   * What changed since {@link makeCanary}: entries made, removed or changed under `dir`
   * (type, mode, owner, mtime, content), `dir` itself changed, and any mount whose mount
   * point is `dir` or under it in the mount table of this process or of PID 1. Empty when
   * the host was not touched.
   */
  problems(): Promise<string[]>;
  /** Removes `dir` (after a lazy unmount of anything mounted under it). */
  remove(): Promise<void>;
}

/**
 * The files a canary starts with: what a hostile image's /etc/hosts, /etc/hostname,
 * /etc/resolv.conf and /dev/null point at, and a directory with a file. Paths a runtime
 * would have to create (`missing/…`) are left out on purpose: one that follows a symlink
 * on the host would create them here.
 */
export const canaryFiles: Readonly<Record<string, string>> = {
  hosts: '# the host canary hosts file: a container must never change it\n',
  hostname: 'canary-hostname\n',
  'resolv.conf': '# the host canary resolv.conf\n',
  null: 'not a device: a regular file on the host\n',
  'keep/file': 'kept\n',
};

/** Decodes mountinfo's octal escapes (`\040` for a space), proc(5). */
function unescapeMountinfo(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(parseInt(octal, 8)));
}

/** Mount points (field 5 of mountinfo) that are `dir` or under it, as `table: line`. */
async function mountsAtOrUnder(dir: string): Promise<string[]> {
  const found: string[] = [];
  for (const table of ['/proc/self/mountinfo', '/proc/1/mountinfo']) {
    const text = await readFile(table, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      const target = line.split(' ')[4];
      if (target === undefined) continue;
      const path = unescapeMountinfo(target);
      if (path === dir || path.startsWith(`${dir}/`)) found.push(`${table}: ${line}`);
    }
  }
  return found;
}

/** The fields of the canary directory itself that a new or removed entry would change. */
async function dirStamp(dir: string): Promise<string> {
  const st = await lstat(dir, { bigint: true });
  return JSON.stringify({ mode: String(st.mode), uid: String(st.uid), gid: String(st.gid), nlink: String(st.nlink), mtime: String(st.mtimeNs), ctime: String(st.ctimeNs) });
}

/** Makes a fresh canary (see {@link Canary}) with {@link canaryFiles}. */
export async function makeCanary(): Promise<Canary> {
  const dir = `/tmp/berth-canary-${randomBytes(8).toString('hex')}`;
  await mkdir(dir, { mode: 0o755 });
  for (const [name, content] of Object.entries(canaryFiles)) {
    if (name.includes('/')) await mkdir(join(dir, name, '..'), { recursive: true });
    await writeFile(join(dir, name), content, { mode: 0o644 });
  }
  const before = await snapshotTree(dir);
  const stamp = await dirStamp(dir);
  return {
    dir,
    async problems() {
      const problems: string[] = [];
      const after = await snapshotTree(dir).catch((err: unknown) => {
        problems.push(`cannot read the canary ${dir}: ${String(err)}`);
        return undefined;
      });
      if (after !== undefined) {
        const differences = diffTrees(before, after, { ignoreFields: [] });
        if (differences.length > 0) problems.push(`the canary ${dir} changed:\n${formatDifferences(differences)}`);
      }
      const now = await dirStamp(dir).catch((err: unknown) => `gone: ${String(err)}`);
      if (now !== stamp) problems.push(`the canary directory ${dir} itself changed: ${stamp} -> ${now}`);
      const mounts = await mountsAtOrUnder(dir);
      if (mounts.length > 0) problems.push(`mounted at or under the canary:\n${mounts.join('\n')}`);
      return problems;
    },
    async remove() {
      for (const line of await mountsAtOrUnder(dir)) {
        const target = line.split(': ', 2)[1]?.split(' ')[4];
        if (target !== undefined) await run('umount', ['-l', unescapeMountinfo(target)], { okCodes: [0, 32] });
      }
      await removeDir(dir);
    },
  };
}

/**
 * Writes `spec` as an OCI layout under the harness's work dir, pushes it to the harness's
 * registry as `berth-test/<name>:<name>` (skopeo skips blobs the registry has), pulls it
 * with berth, and returns the reference to run.
 */
export async function pushImage(h: ContainerHarness, name: string, spec: ImageSpec): Promise<string> {
  const layout = join(h.work, `layout-${name}`);
  try {
    await writeOciLayout(layout, { [name]: spec });
    await pushLayout(layout, h.registry.host, `berth-test/${name}`, name);
  } finally {
    await removeDir(layout);
  }
  const reference = `${h.registry.host}/berth-test/${name}:${name}`;
  await h.berthOk(['pull', reference]);
  return reference;
}
