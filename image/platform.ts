/**
 * Platforms: parsing `--platform`, the host's default, and choosing a manifest from an
 * index the way containerd's `platforms` package matches (os and architecture exactly,
 * variants normalised: arm64 is arm64/v8, arm is arm/v7 unless given).
 */
import { InvalidArgumentError } from '../common/errors.js';
import type { Descriptor, Platform } from '../oci/index.js';

/** A normalised platform. */
export interface PlatformSpec {
  readonly os: string;
  readonly architecture: string;
  readonly variant?: string | undefined;
}

const archAliases: Readonly<Record<string, string>> = {
  x86_64: 'amd64', 'x86-64': 'amd64', x64: 'amd64', aarch64: 'arm64', armhf: 'arm', armel: 'arm', i386: '386', ia32: '386',
};

function normalise(os: string, architecture: string, variant: string | undefined): PlatformSpec {
  const arch = archAliases[architecture.toLowerCase()] ?? architecture.toLowerCase();
  let v = variant?.toLowerCase();
  if (arch === 'arm64' && (v === undefined || v === '8')) v = 'v8';
  if (arch === 'arm' && v === undefined) v = 'v7';
  if (arch === 'arm' && v !== undefined && /^[5-8]$/.test(v)) v = `v${v}`;
  if (arch === 'amd64' && v === 'v1') v = undefined;
  return { os: os.toLowerCase(), architecture: arch, variant: v };
}

/** Parses `os/arch[/variant]` or `arch[/variant]` (os defaults to linux). */
export function parsePlatform(input: string): PlatformSpec {
  const parts = input.split('/');
  const bad = (): never => {
    throw new InvalidArgumentError(`Invalid platform "${input}": expected "os/arch[/variant]"`, {
      hint: 'For example --platform linux/amd64 or --platform linux/arm64/v8',
    });
  };
  if (parts.some((p) => !/^[A-Za-z0-9_.-]+$/.test(p))) bad();
  if (parts.length === 1) return normalise('linux', parts[0] ?? bad(), undefined);
  if (parts.length === 2) {
    const [a, b] = parts as [string, string];
    return a === 'linux' || a === 'windows' || a === 'darwin' || a === 'freebsd' ? normalise(a, b, undefined) : normalise('linux', a, b);
  }
  if (parts.length === 3) return normalise(parts[0] ?? bad(), parts[1] ?? bad(), parts[2]);
  return bad();
}

/** The platform of this host (the default for pulls). */
export function hostPlatform(): PlatformSpec {
  const armVersion: unknown = Reflect.get(process.config.variables, 'arm_version');
  const variant = process.arch === 'arm' && typeof armVersion === 'string' ? armVersion : undefined;
  return normalise(process.platform, process.arch, variant);
}

/** `os/arch[/variant]`. */
export function formatPlatform(p: PlatformSpec | Platform): string {
  return [p.os, p.architecture, p.variant].filter((x) => x !== undefined && x !== '').join('/');
}

/** True when an image for `offered` runs as `wanted`. */
export function platformMatches(wanted: PlatformSpec, offered: Platform): boolean {
  const o = normalise(offered.os, offered.architecture, offered.variant);
  if (o.os !== wanted.os || o.architecture !== wanted.architecture) return false;
  return wanted.variant === undefined || o.variant === undefined || o.variant === wanted.variant;
}

/** The first index entry for `wanted`, preferring an exact variant match; undefined when none. */
export function selectManifest(entries: readonly Descriptor[], wanted: PlatformSpec): Descriptor | undefined {
  const candidates = entries.filter((d) => d.platform !== undefined && platformMatches(wanted, d.platform));
  const exact = candidates.find((d) => d.platform !== undefined && normalise(d.platform.os, d.platform.architecture, d.platform.variant).variant === wanted.variant);
  return exact ?? candidates[0];
}
