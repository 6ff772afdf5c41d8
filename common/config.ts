/**
 * berth's configuration file, `<root>/config.json` (like docker's daemon.json). Every key is
 * optional; an absent file means the defaults. Unknown keys are refused so that a typo does
 * not silently do nothing.
 *
 * ```json
 * {
 *   "insecure-registries": ["registry.lan:5000", "10.0.0.0/8"],
 *   "max-concurrent-downloads": 3,
 *   "bridge": "berth0", "bip": "10.77.0.1/16", "mtu": 1500, "dns": ["192.0.2.53"],
 *   "default-address-pools": [{ "base": "10.78.0.0/16", "size": 24 }],
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
  /**
   * The default network's bridge (`bridge`, as docker's daemon.json). Unset: berth0 for the
   * default store, `berth<hex>` of the root for any other (network/stores.ts).
   */
  readonly bridge?: string | undefined;
  /**
   * The default bridge's address and prefix (`bip`, as docker's). Unset: 10.77.0.1/16 for
   * the default store while free, else the first free /16 from 10.79.0.0/16 (network/stores.ts).
   */
  readonly bip?: string | undefined;
  /** Where networks made without --subnet get theirs (`default-address-pools`, as docker's). */
  readonly defaultAddressPools?: readonly { readonly base: string; readonly size: number }[] | undefined;
  /** Name servers for containers instead of the host's (`dns`, as docker's). */
  readonly dns?: readonly string[] | undefined;
  /** The MTU of containers' default route, for traffic leaving the host (`mtu`): 1500 when unset. */
  readonly mtu?: number | undefined;
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
    } else if (key === 'bridge') {
      if (typeof value !== 'string' || !/^[A-Za-z0-9_.-]{1,15}$/.test(value)) throw bad('"bridge" must be an interface name of at most 15 characters, such as "berth0"');
      (config as { bridge?: string }).bridge = value;
    } else if (key === 'bip') {
      if (typeof value !== 'string' || !/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(value)) throw bad('"bip" must be an address with a prefix length, such as "10.77.0.1/16"');
      (config as { bip?: string }).bip = value;
    } else if (key === 'default-address-pools') {
      const ok = Array.isArray(value) && value.every((p: unknown) => p !== null && typeof p === 'object' && typeof (p as { base?: unknown }).base === 'string'
        && Number.isInteger((p as { size?: unknown }).size) && (p as { size: number }).size >= 8 && (p as { size: number }).size <= 30);
      if (!ok) throw bad('"default-address-pools" must be a list of {"base": "10.78.0.0/16", "size": 24}');
      (config as { defaultAddressPools?: unknown }).defaultAddressPools = (value as { base: string; size: number }[]).map((p) => ({ base: p.base, size: p.size }));
    } else if (key === 'dns') {
      if (!Array.isArray(value) || !value.every((v) => typeof v === 'string' && /^\d+\.\d+\.\d+\.\d+$/.test(v))) throw bad('"dns" must be a list of IPv4 addresses');
      (config as { dns?: string[] }).dns = value as string[];
    } else if (key === 'mtu') {
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 576 || value > 65535) throw bad('"mtu" must be an integer from 576 to 65535');
      (config as { mtu?: number }).mtu = value;
    } else {
      throw bad(`unknown key "${key}"`);
    }
  }
  return config;
}
