/**
 * docker's mount, ulimit and log options in their text form, which the CLI's -v, --mount,
 * --tmpfs, --ulimit and --log-opt take and the API's HostConfig carries too (Binds is
 * `-v`'s syntax, Tmpfs `--tmpfs`'s options, LogConfig.Config `--log-opt`'s values).
 */
import { isAbsolute, resolve } from 'node:path';
import { InvalidArgumentError } from '../common/errors.js';
import type { MountRequest, Ulimit } from './config.js';

function absoluteDestination(dst: string, what: string): string {
  if (!dst.startsWith('/')) throw new InvalidArgumentError(`Invalid ${what}: the container path "${dst}" is not absolute`);
  return dst;
}

/** -v SRC:DST[:OPTS] (bind mounts; a SRC without "/" is a named volume). */
export function parseVolume(spec: string): MountRequest {
  const parts = spec.split(':');
  if (parts.length < 2 || parts.length > 3 || parts[0] === '' || parts[1] === '') {
    throw new InvalidArgumentError(`Invalid volume specification "${spec}"`, { hint: 'Use -v /host/path:/container/path[:ro]' });
  }
  const [src = '', dst = '', opts = ''] = parts;
  const options = opts === '' ? [] : opts.split(',');
  for (const o of options) {
    if (!['ro', 'rw', 'z', 'Z', 'private', 'rprivate', 'shared', 'rshared', 'slave', 'rslave'].includes(o)) {
      throw new InvalidArgumentError(`Invalid volume option "${o}" in "${spec}"`);
    }
  }
  const readOnly = options.includes('ro');
  absoluteDestination(dst, `volume "${spec}"`);
  if (!src.includes('/') && !src.startsWith('.')) return { type: 'volume', name: src, destination: dst, readOnly };
  if (!isAbsolute(src)) throw new InvalidArgumentError(`Invalid volume "${spec}": the host path must be absolute`);
  return { type: 'bind', source: resolve(src), destination: dst, readOnly };
}

/** --mount type=bind|tmpfs|volume,source=..,target=..[,readonly][,tmpfs-size=..][,tmpfs-mode=..]. */
export function parseMount(spec: string): MountRequest {
  const fields = new Map<string, string>();
  for (const part of spec.split(',')) {
    const eq = part.indexOf('=');
    fields.set(eq < 0 ? part : part.slice(0, eq), eq < 0 ? 'true' : part.slice(eq + 1));
  }
  const type = fields.get('type') ?? 'volume';
  const target = fields.get('target') ?? fields.get('destination') ?? fields.get('dst');
  if (target === undefined) throw new InvalidArgumentError(`Invalid --mount "${spec}": target is required`);
  absoluteDestination(target, `--mount "${spec}"`);
  const ro = fields.get('readonly') ?? fields.get('ro');
  const readOnly = ro === 'true' || ro === '1';
  if (type === 'bind') {
    const source = fields.get('source') ?? fields.get('src');
    if (source === undefined || !isAbsolute(source)) throw new InvalidArgumentError(`Invalid --mount "${spec}": a bind mount needs an absolute source`);
    return { type: 'bind', source, destination: target, readOnly, propagation: fields.get('bind-propagation') };
  }
  if (type === 'tmpfs') {
    const options: string[] = [];
    const size = fields.get('tmpfs-size');
    if (size !== undefined) options.push(`size=${size}`);
    const mode = fields.get('tmpfs-mode');
    if (mode !== undefined) options.push(`mode=${mode}`);
    return { type: 'tmpfs', destination: target, options };
  }
  if (type === 'volume') {
    const source = fields.get('source') ?? fields.get('src') ?? '';
    return { type: 'volume', name: source, destination: target, readOnly };
  }
  throw new InvalidArgumentError(`Invalid --mount "${spec}": unknown type "${type}"`, { hint: 'Use type=bind, type=volume or type=tmpfs' });
}

/** --tmpfs DST[:OPTIONS]. */
export function parseTmpfs(spec: string): MountRequest {
  const colon = spec.indexOf(':');
  const dst = colon < 0 ? spec : spec.slice(0, colon);
  const opts = colon < 0 ? [] : spec.slice(colon + 1).split(',').filter((o) => o !== '');
  return { type: 'tmpfs', destination: absoluteDestination(dst, `--tmpfs "${spec}"`), options: opts };
}

/** --ulimit NAME=SOFT[:HARD]. */
export function parseUlimit(spec: string): Ulimit {
  const m = /^([a-z]+)=(-?\d+)(?::(-?\d+))?$/.exec(spec);
  if (m === null) throw new InvalidArgumentError(`Invalid --ulimit "${spec}"`, { hint: 'Use NAME=SOFT[:HARD], e.g. nofile=1024:2048' });
  const soft = Number(m[2]);
  const hard = m[3] === undefined ? soft : Number(m[3]);
  if (soft > hard) throw new InvalidArgumentError(`Invalid --ulimit "${spec}": the soft limit ${soft} is above the hard limit ${hard}`);
  return { name: m[1] ?? '', soft, hard };
}

const sizeUnits: Readonly<Record<string, number>> = { '': 1, b: 1, k: 1024, kb: 1024, m: 1024 ** 2, mb: 1024 ** 2, g: 1024 ** 3, gb: 1024 ** 3 };

/** --log-opt max-size=10m, max-file=3 (docker's json-file options). */
export function parseLogOpts(opts: readonly string[]): { maxSize?: number; maxFiles?: number } {
  const out: { maxSize?: number; maxFiles?: number } = {};
  for (const o of opts) {
    const eq = o.indexOf('=');
    const key = eq < 0 ? o : o.slice(0, eq);
    const value = eq < 0 ? '' : o.slice(eq + 1);
    if (key === 'max-size') {
      const m = /^(\d+(?:\.\d+)?)\s*([a-zA-Z]*)$/.exec(value);
      const unit = sizeUnits[(m?.[2] ?? '').toLowerCase()];
      if (m === null || unit === undefined) throw new InvalidArgumentError(`Invalid --log-opt max-size "${value}"`, { hint: 'Use a size such as 10m or 512k' });
      out.maxSize = Math.floor(Number(m[1]) * unit);
    } else if (key === 'max-file') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`Invalid --log-opt max-file "${value}": give a whole number ≥ 1`);
      out.maxFiles = n;
    } else {
      throw new InvalidArgumentError(`Unknown --log-opt "${key}"`, { hint: 'berth\'s json-file logs take max-size and max-file' });
    }
  }
  return out;
}
