import { describe, expect, it } from 'vitest';
import { formatPlatform, parsePlatform, platformMatches, selectManifest } from '../../../image/platform.js';
import type { Descriptor, Digest } from '../../../oci/index.js';

const entry = (architecture: string, variant?: string, os = 'linux'): Descriptor => ({
  mediaType: 'application/vnd.oci.image.manifest.v1+json',
  digest: `sha256:${architecture.padEnd(64, '0').replace(/[^0-9a-f]/g, 'a').slice(0, 64)}` as Digest,
  size: 1,
  platform: variant === undefined ? { os, architecture } : { os, architecture, variant },
});

describe('platforms', () => {
  it.each([
    ['linux/amd64', 'linux/amd64'],
    ['amd64', 'linux/amd64'],
    ['linux/arm64', 'linux/arm64/v8'],
    ['linux/arm64/v8', 'linux/arm64/v8'],
    ['linux/arm', 'linux/arm/v7'],
    ['arm/v6', 'linux/arm/v6'],
    ['linux/x86_64', 'linux/amd64'],
  ])('parsePlatform(%s) is %s', (input, expected) => {
    expect(formatPlatform(parsePlatform(input))).toBe(expected);
  });

  it.each(['', 'linux//amd64', 'a/b/c/d', 'linux/amd 64'])('parsePlatform rejects %j', (input) => {
    expect(() => parsePlatform(input)).toThrowError(/Invalid platform/);
  });

  it('matches arm64 with and without the v8 variant', () => {
    expect(platformMatches(parsePlatform('linux/arm64'), { os: 'linux', architecture: 'arm64' })).toBe(true);
    expect(platformMatches(parsePlatform('linux/arm/v7'), { os: 'linux', architecture: 'arm', variant: 'v6' })).toBe(false);
  });

  it('selects the entry for the platform and nothing for a missing one', () => {
    const entries = [entry('arm', 'v6'), entry('arm', 'v7'), entry('amd64'), entry('amd64', undefined, 'windows')];
    expect(selectManifest(entries, parsePlatform('linux/arm/v7'))?.platform?.variant).toBe('v7');
    expect(selectManifest(entries, parsePlatform('linux/amd64'))?.platform?.os).toBe('linux');
    expect(selectManifest(entries, parsePlatform('linux/s390x'))).toBeUndefined();
  });
});
