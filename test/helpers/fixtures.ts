/**
 * Image fixtures for registry, pull and unpack tests, built offline from specs (see
 * oci-layout.ts). `busyboxImage` runs; `kitchenSinkImage` exercises every tar entry type
 * and layer rule; `multiPlatformIndex` exercises platform selection. Each fixture is a
 * spec: write it with {@link writeFixtureLayout} or `writeOciLayout`.
 */
import { readFile } from 'node:fs/promises';
import type { Platform } from '../../oci/index.js';
import { runText } from './exec.js';
import { hostPlatform, writeOciLayout, type BuiltImage, type BuiltIndex, type Compression, type ImageSpec, type IndexSpec } from './oci-layout.js';
import { kitchenSinkLayers } from './kitchen-sink.js';
import type { TarEntry } from './tar.js';

export { kitchenSinkExpectations, type KitchenSinkExpectations } from './kitchen-sink.js';

/** Where the busybox-static package installs its binary. */
export const busyboxPath = '/bin/busybox';

/** The platforms of {@link multiPlatformIndex}, in index order. */
export const fixturePlatforms: readonly Platform[] = [
  { architecture: 'amd64', os: 'linux' },
  { architecture: 'arm64', os: 'linux', variant: 'v8' },
  { architecture: 'arm', os: 'linux', variant: 'v7' },
];

const passwd = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/home:/bin/false\n';
const group = 'root:x:0:\nnobody:x:65534:\n';
const defaultPath = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/** Options for {@link busyboxImage}. */
export interface BusyboxOptions {
  readonly compression?: Compression;
  /** How the applet names point at /bin/busybox; default hardlinks, as in Docker's busybox image. */
  readonly links?: 'hardlink' | 'symlink';
}

/**
 * A runnable single-layer busybox image for the host platform: the busybox-static binary
 * as /bin/busybox, one link per applet that `busybox --list` names (all in /bin), a
 * minimal /etc/passwd and /etc/group, Cmd ["sh"].
 */
export async function busyboxImage(options: BusyboxOptions = {}): Promise<ImageSpec> {
  const binary = await readFile(busyboxPath);
  const applets = (await runText(busyboxPath, ['--list']))
    .split('\n')
    .filter((name) => name !== '' && name !== 'busybox' && !name.includes('/'))
    .sort();
  const links: TarEntry[] = applets.map((name) =>
    options.links === 'symlink'
      ? { type: 'symlink', path: `bin/${name}`, target: 'busybox' }
      : { type: 'hardlink', path: `bin/${name}`, target: 'bin/busybox' },
  );
  return {
    compression: options.compression ?? 'gzip',
    config: { Env: [defaultPath], Cmd: ['sh'] },
    layers: [
      {
        createdBy: 'busybox-static from Debian, applets as links',
        entries: [
          { type: 'dir', path: 'bin' },
          { type: 'file', path: 'bin/busybox', content: binary, mode: 0o755 },
          ...links,
          { type: 'dir', path: 'etc' },
          { type: 'file', path: 'etc/passwd', content: passwd },
          { type: 'file', path: 'etc/group', content: group },
          { type: 'dir', path: 'home' },
          { type: 'dir', path: 'root', mode: 0o700 },
          { type: 'dir', path: 'tmp', mode: 0o1777 },
          { type: 'dir', path: 'usr' },
          { type: 'dir', path: 'usr/bin' },
          { type: 'dir', path: 'var' },
        ],
      },
    ],
  };
}

/** Options for {@link kitchenSinkImage}. */
export interface KitchenSinkOptions {
  /** One compression for every layer, or one per layer (three layers). Default gzip. */
  readonly compression?: Compression | readonly [Compression, Compression, Compression];
}

/**
 * Three layers that exercise every entry type and layer rule: directories with
 * setuid/setgid/sticky modes and odd owners, files (empty, long PAX name, UTF-8 name,
 * large uid), symlinks (absolute, relative, dangling), hardlinks, char and block devices,
 * a fifo, xattrs (user.*, trusted.*, security.capability), then whiteouts, an opaque
 * directory, a whiteout of something that never existed, mode/owner/content changes,
 * type changes and a path recreated after its whiteout. {@link kitchenSinkExpectations}
 * says what the flattened rootfs must hold.
 */
export function kitchenSinkImage(options: KitchenSinkOptions = {}): ImageSpec {
  const compression = options.compression ?? 'gzip';
  const perLayer: readonly Compression[] = typeof compression === 'string' ? [compression, compression, compression] : compression;
  return {
    config: { Env: [defaultPath], Cmd: ['/bin/sh'], WorkingDir: '/data', Labels: { 'org.berth.fixture': 'kitchen-sink' } },
    layers: kitchenSinkLayers().map((entries, i) => ({
      entries,
      compression: perLayer[i] ?? 'gzip',
      createdBy: `kitchen sink layer ${i + 1}`,
    })),
  };
}

/** A tiny image for a non-host platform: one file naming the platform. */
function platformStub(platform: Platform): ImageSpec {
  const name = [platform.os, platform.architecture, platform.variant].filter((p) => p !== undefined).join('/');
  return {
    platform,
    config: { Cmd: ['/bin/sh'] },
    layers: [{ entries: [{ type: 'file', path: 'platform', content: `${name}\n` }] }],
  };
}

/**
 * An index for linux/amd64, linux/arm64/v8 and linux/arm/v7. The host platform's entry is
 * the busybox image (runnable) plus a /platform file; the others are stubs.
 */
export async function multiPlatformIndex(options: { compression?: Compression } = {}): Promise<IndexSpec> {
  const host = hostPlatform();
  const busybox = await busyboxImage(options.compression === undefined ? {} : { compression: options.compression });
  const images = fixturePlatforms.map((platform): ImageSpec => {
    if (platform.architecture !== host.architecture) return platformStub(platform);
    const stub = platformStub(platform);
    return { ...busybox, platform, layers: [...busybox.layers, ...stub.layers] };
  });
  return { images, annotations: { 'org.berth.fixture': 'multi-platform' } };
}

/** The ref names {@link writeFixtureLayout} writes. */
export const fixtureRefs = [
  'busybox',
  'busybox-symlinks',
  'kitchen-sink-gzip',
  'kitchen-sink-zstd',
  'kitchen-sink-none',
  'kitchen-sink-mixed',
  'multi',
] as const;

/** One of {@link fixtureRefs}. */
export type FixtureRef = (typeof fixtureRefs)[number];

/** Every fixture as a spec, by ref name. */
export async function allFixtures(): Promise<Record<FixtureRef, ImageSpec | IndexSpec>> {
  return {
    busybox: await busyboxImage(),
    'busybox-symlinks': await busyboxImage({ links: 'symlink' }),
    'kitchen-sink-gzip': kitchenSinkImage({ compression: 'gzip' }),
    'kitchen-sink-zstd': kitchenSinkImage({ compression: 'zstd' }),
    'kitchen-sink-none': kitchenSinkImage({ compression: 'none' }),
    'kitchen-sink-mixed': kitchenSinkImage({ compression: ['zstd', 'none', 'gzip'] }),
    multi: await multiPlatformIndex(),
  };
}

/**
 * Writes the fixtures (all by default) into one OCI layout at `dir`, each tagged with its
 * ref name, and returns what was written.
 */
export async function writeFixtureLayout(
  dir: string,
  refs: readonly FixtureRef[] = fixtureRefs,
): Promise<Record<string, BuiltImage | BuiltIndex>> {
  const all = await allFixtures();
  const chosen: Record<string, ImageSpec | IndexSpec> = {};
  for (const ref of refs) chosen[ref] = all[ref];
  return writeOciLayout(dir, chosen);
}
