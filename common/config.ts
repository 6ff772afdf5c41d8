/**
 * berth's configuration file, `<root>/config.json` (like docker's daemon.json). Every key is
 * optional; an absent file means the defaults. Unknown keys are refused so that a typo does
 * not silently do nothing.
 *
 * ```json
 * {
 *   "insecure-registries": ["registry.lan:5000", "10.0.0.0/8"],
 *   "max-concurrent-downloads": 3,
 *   "limits": { "maxEntries": 1000000, "maxPaxHeaderBytes": 1048576,
 *               "maxUnpackedBytes": 68719476736, "maxPathBytes": 4096 }
 * }
 * ```
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, isErrnoError } from './errors.js';
import { directoryError } from './fs.js';

/** Parsed configuration. */
export interface BerthConfig {
  /** Registries reached over plain HTTP, as docker's `insecure-registries` (host[:port] or CIDR). */
  readonly insecureRegistries: readonly string[];
  /** Layers fetched at once per pull. */
  readonly maxConcurrentDownloads: number;
  /** Overrides of the unpack limits, by name. */
  readonly limits: Readonly<Record<string, number>>;
  /** The cgroup containers' leaves go under (`cgroup-parent`); berth's default, /berth, when unset. */
  readonly cgroupParent?: string | undefined;
}

const limitNames = new Set(['maxEntries', 'maxPaxHeaderBytes', 'maxUnpackedBytes', 'maxPathBytes']);

/** Reads the configuration file at `path`; defaults when it does not exist. */
export async function loadConfig(path: string): Promise<BerthConfig> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (err) {
    if (isErrnoError(err, 'ENOENT') || isErrnoError(err, 'ENOTDIR')) return { insecureRegistries: [], maxConcurrentDownloads: 3, limits: {} };
    throw directoryError(path, err);
  }
  return parseConfig(text, path);
}

/** Parses configuration text; `path` names the file in errors. */
export function parseConfig(text: string, path: string): BerthConfig {
  const bad = (why: string): InvalidArgumentError =>
    new InvalidArgumentError(`Invalid configuration in "${path}": ${why}`, { hint: 'Fix or remove the file; see README "Configuration"' });
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new InvalidArgumentError(`Invalid configuration in "${path}": it is not valid JSON`, { cause: err });
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) throw bad('it is not a JSON object');
  const config = { insecureRegistries: [] as string[], maxConcurrentDownloads: 3, limits: {} as Record<string, number> };
  for (const [key, value] of Object.entries(doc)) {
    if (key === 'insecure-registries') {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string')) throw bad('"insecure-registries" must be a list of strings');
      config.insecureRegistries = value as string[];
    } else if (key === 'max-concurrent-downloads') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 64) throw bad('"max-concurrent-downloads" must be an integer from 1 to 64');
      config.maxConcurrentDownloads = value;
    } else if (key === 'limits') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw bad('"limits" must be an object');
      for (const [name, limit] of Object.entries(value)) {
        if (!limitNames.has(name)) throw bad(`unknown limit "limits.${name}" (known: ${[...limitNames].join(', ')})`);
        if (typeof limit !== 'number' || !Number.isSafeInteger(limit) || limit <= 0) throw bad(`"limits.${name}" must be a positive integer`);
        config.limits[name] = limit;
      }
    } else if (key === 'cgroup-parent') {
      if (typeof value !== 'string' || value === '' || /[\0\n]/.test(value)) throw bad('"cgroup-parent" must be a cgroup path such as "/berth"');
      (config as { cgroupParent?: string }).cgroupParent = value;
    } else {
      throw bad(`unknown key "${key}"`);
    }
  }
  return config;
}
