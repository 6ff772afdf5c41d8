import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

/**
 * package-lock.json must let `npm ci` install exactly as locked on a fresh clone
 * (scripts/setup.sh has no `npm install` fallback). npm 11 refuses a lock that lacks any
 * package a locked package depends on, other platforms' optional ones included
 * (rollup's @rollup/rollup-<platform>): a lock written by npm with those left out fails
 * `npm ci` with "package.json and package-lock.json ... are in sync".
 */
interface LockEntry {
  version?: string;
  resolved?: string;
  link?: boolean;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
}

const root = join(import.meta.dirname, '..', '..');
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as {
  lockfileVersion: number;
  packages: Record<string, LockEntry>;
};
const manifest = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as LockEntry;

/** Where Node (and npm's tree) finds `name` from the package at lock key `from`. */
function resolve(from: string, name: string): string | undefined {
  let dir = from;
  for (;;) {
    const key = dir === '' ? `node_modules/${name}` : `${dir}/node_modules/${name}`;
    if (lock.packages[key] !== undefined) return key;
    if (dir === '') return undefined;
    const up = dir.lastIndexOf('/node_modules/');
    dir = up < 0 ? '' : dir.slice(0, up);
  }
}

/** What npm installs for the entry at `key`: "name@range" of each dependency it needs. */
function needs(key: string, entry: LockEntry): [name: string, range: string][] {
  const optionalPeer = (name: string): boolean => entry.peerDependenciesMeta?.[name]?.optional === true;
  return [
    ...Object.entries(entry.dependencies ?? {}),
    ...Object.entries(entry.optionalDependencies ?? {}),
    ...(key === '' ? Object.entries(entry.devDependencies ?? {}) : []),
    ...Object.entries(entry.peerDependencies ?? {}).filter(([name]) => !optionalPeer(name)),
  ];
}

describe('package-lock.json', () => {
  it('is a version 3 lock of the dependencies package.json names', () => {
    expect(lock.lockfileVersion).toBe(3);
    const top = lock.packages[''];
    expect(top?.dependencies).toEqual(manifest.dependencies);
    expect(top?.devDependencies).toEqual(manifest.devDependencies);
  });

  it("has every package a locked package depends on, other platforms' optional ones included", () => {
    const missing: string[] = [];
    for (const [key, entry] of Object.entries(lock.packages)) {
      if (entry.link === true) continue;
      for (const [name, range] of needs(key, entry)) {
        const found = resolve(key, name);
        const version = found === undefined ? undefined : lock.packages[found]?.version;
        // Exact pins (rollup's and esbuild's platform packages) must match; ranges need a semver parser.
        const pinned = /^\d+\.\d+\.\d+$/.test(range);
        if (found === undefined || (pinned && version !== range)) {
          missing.push(`${key || '(root)'} needs ${name}@${range}, locked: ${version ?? 'nothing'}`);
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('downloads from the npm registry only', () => {
    const elsewhere = Object.entries(lock.packages)
      .filter(([, e]) => e.resolved !== undefined && !e.resolved.startsWith('https://registry.npmjs.org/'))
      .map(([key, e]) => `${key}: ${e.resolved ?? ''}`);
    expect(elsewhere).toEqual([]);
  });
});
