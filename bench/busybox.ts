/**
 * The start benchmark's image: busybox made from Debian's /bin/busybox (busybox-static) with
 * umoci, the way scripts/demo.sh builds it, as an OCI layout; and an OCI runtime bundle of it
 * (umoci unpack) for bare crun and runc, set to run `/bin/true` without a terminal.
 */
import { chmod, copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import type { BenchImage, BenchLayer } from './image.js';
import { check, output } from './proc.js';

/** The tag inside the layout. */
export const busyboxTag = 'latest';

/** Debian's static busybox. */
const busyboxBinary = '/bin/busybox';

/** The layout `dir/oci` (a {@link BenchImage}, so the pull runners can verify against it). */
export async function buildBusybox(dir: string): Promise<BenchImage & { readonly busyboxVersion: string }> {
  const layout = join(dir, 'oci');
  const image = `${layout}:${busyboxTag}`;
  const bundle = join(dir, 'build-bundle');
  await check({ file: 'umoci', args: ['init', '--layout', layout] });
  await check({ file: 'umoci', args: ['new', '--image', image] });
  await check({ file: 'umoci', args: ['unpack', '--image', image, bundle] });
  const rootfs = join(bundle, 'rootfs');
  for (const d of ['bin', 'etc', 'tmp', 'root']) await mkdir(join(rootfs, d), { recursive: true });
  await copyFile(busyboxBinary, join(rootfs, 'bin', 'busybox'));
  await chmod(join(rootfs, 'bin', 'busybox'), 0o755);
  const applets = (await output(busyboxBinary, ['--list'])).split('\n').filter((a) => a !== '' && a !== 'busybox');
  for (const applet of applets) await symlink('busybox', join(rootfs, 'bin', applet));
  await writeFile(join(rootfs, 'etc', 'passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  await writeFile(join(rootfs, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  await chmod(join(rootfs, 'tmp'), 0o1777);
  await check({ file: 'umoci', args: ['repack', '--image', image, bundle] });
  await check({
    file: 'umoci',
    args: ['config', '--image', image, '--config.cmd', 'sh', '--config.env', 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
  });
  const version = (await output(busyboxBinary, ['--help']).catch(() => '')).split('\n')[0] ?? '';
  return { ...(await readLayout(layout)), busyboxVersion: /v[\d.]+/.exec(version)?.[0] ?? '?' };
}

interface Descriptor {
  readonly digest: string;
  readonly size: number;
}

async function readJson<T>(path: string): Promise<T> {
  return JSON.parse(await readFile(path, 'utf8')) as T;
}

function blobPath(layout: string, digest: string): string {
  return join(layout, 'blobs', 'sha256', digest.slice('sha256:'.length));
}

/** The layout's tagged manifest and its layers, with their tar sizes and entry counts. */
async function readLayout(layout: string): Promise<BenchImage> {
  const index = await readJson<{ manifests: (Descriptor & { annotations?: Record<string, string> })[] }>(join(layout, 'index.json'));
  const desc = index.manifests.find((m) => m.annotations?.['org.opencontainers.image.ref.name'] === busyboxTag);
  if (desc === undefined) throw new Error(`${layout} has no manifest tagged ${busyboxTag}`);
  const manifest = await readJson<{ config: Descriptor; layers: Descriptor[] }>(blobPath(layout, desc.digest));
  const config = await readJson<{ rootfs: { diff_ids: string[] } }>(blobPath(layout, manifest.config.digest));
  const layers: BenchLayer[] = [];
  for (const [i, l] of manifest.layers.entries()) {
    const tar = gunzipSync(await readFile(blobPath(layout, l.digest)));
    const listing = await output('tar', ['-tzf', blobPath(layout, l.digest)]);
    layers.push({
      name: `layer ${i + 1}`, digest: l.digest, size: l.size, diffId: config.rootfs.diff_ids[i] ?? '',
      tarSize: tar.length, entries: listing === '' ? 0 : listing.split('\n').length,
    });
  }
  return { version: 'busybox', layoutDir: layout, manifestDigest: desc.digest, layers };
}

/**
 * `umoci unpack` of the layout into `bundle` (rootfs + config.json), then config.json set to
 * run `/bin/true` without a terminal. umoci's config keeps new pid, network, ipc, uts and mount
 * namespaces: the network namespace is new and empty (loopback only, down), which needs
 * nothing set up, like `--network none`.
 */
export async function makeBundle(image: BenchImage, bundle: string): Promise<void> {
  await check({ file: 'umoci', args: ['unpack', '--image', `${image.layoutDir}:${busyboxTag}`, bundle] });
  const path = join(bundle, 'config.json');
  const config = await readJson<{ process: { args: string[]; terminal: boolean } }>(path);
  config.process.args = ['/bin/true'];
  config.process.terminal = false;
  await writeFile(path, `${JSON.stringify(config, null, 2)}\n`);
}
