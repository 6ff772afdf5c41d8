/**
 * A container's user: docker's `-u` / image USER values (name, uid, name:group, uid:gid)
 * resolved against the image's /etc/passwd and /etc/group, as runc's user package
 * (moby/sys/user) resolves them.
 */
import { InvalidArgumentError, NotFoundError } from '../common/errors.js';

/** Largest uid or gid accepted, 2^31-1, as runc's user package (moby/sys/user `maxID`). */
export const maxId = 2 ** 31 - 1;

/** A user resolved against the image's /etc/passwd and /etc/group ({@link resolveUser}). */
export interface ResolvedUser {
  readonly uid: number;
  readonly gid: number;
  /** Written to config.json as given; {@link resolveUser} puts the primary gid first, as docker does. */
  readonly additionalGids: readonly number[];
}

/** A `-u` value split at its colon: `name`, `uid`, `name:group`, `uid:gid`. */
export interface UserSpec {
  readonly user: string;
  readonly group?: string;
}

/** Splits a `-u`/USER value; an empty user means root, an empty group the user's own. */
export function parseUserSpec(spec: string): UserSpec {
  const parts = spec.split(':');
  if (parts.length > 2) {
    throw new InvalidArgumentError(`Invalid user "${spec}": it has more than one ":"`, { hint: 'Use name, uid, name:group or uid:gid' });
  }
  const [user = '', group = ''] = parts;
  return group === '' ? { user } : { user, group };
}

/** The id a numeric user or group name stands for; undefined for a name. */
function numericId(value: string, spec: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(value)) return undefined;
  const id = Number(value);
  if (id < 0 || id > maxId) {
    throw new InvalidArgumentError(`Invalid user "${spec}": uids and gids must be from 0 to ${maxId}`);
  }
  return id;
}

interface FileEntry {
  readonly name: string;
  readonly id: number;
  readonly gid: number;
  readonly members: readonly string[];
}

/**
 * passwd(5) (`name:password:UID:GID:...`) or group(5) (`name:password:GID:members`) lines;
 * as moby/sys/user, fields that do not parse as numbers count as 0.
 */
function parseIdFile(text: string | undefined, kind: 'passwd' | 'group'): FileEntry[] {
  const toId = (field: string | undefined): number => (field !== undefined && /^[+-]?[0-9]+$/.test(field) ? Number(field) : 0);
  return (text ?? '').split('\n').map((line) => line.trim()).filter((line) => line !== '' && !line.startsWith('#')).map((line) => {
    const f = line.split(':');
    const members = kind === 'group' && f[3] !== undefined && f[3] !== '' ? f[3].split(',') : [];
    return { name: f[0] ?? '', id: toId(f[2]), gid: toId(kind === 'passwd' ? f[3] : f[2]), members };
  });
}

/**
 * Resolves `-u` (or the image's USER) against the image's /etc/passwd and /etc/group, as
 * moby/sys/user `GetExecUser` and moby daemon/oci_linux.go `getUser` do: a numeric uid need
 * not be in passwd, a name must; a user alone takes its primary gid from passwd (0 for a
 * uid passwd lacks) and, as supplementary groups, the groups that list the user's name; an
 * explicit group replaces the gid and adds none. `additionalGids` is the gid followed by the
 * supplementary groups, as docker writes it. Pass undefined for a file the image lacks.
 */
export function resolveUser(spec: string, passwd: string | undefined, group: string | undefined): ResolvedUser {
  const parsed = parseUserSpec(spec);
  const uidArg = numericId(parsed.user, spec);
  const gidArg = parsed.group === undefined ? undefined : numericId(parsed.group, spec);
  const users = parseIdFile(passwd, 'passwd');
  const match = parsed.user === ''
    ? users.find((u) => u.id === 0)
    : users.find((u) => (uidArg === undefined ? u.name === parsed.user : u.id === uidArg));
  if (match === undefined && parsed.user !== '' && uidArg === undefined) {
    throw new NotFoundError(`Unable to find user "${parsed.user}": no matching entries in passwd file`, {
      hint: passwd === undefined ? 'The image has no /etc/passwd: give a numeric uid, e.g. -u 1000' : 'Check the name, or give a numeric uid, e.g. -u 1000',
    });
  }
  const uid = match?.id ?? uidArg ?? 0;
  let gid = match?.gid ?? 0;
  let supplementary: number[] = [];
  const groups = parseIdFile(group, 'group');
  if (parsed.group !== undefined) {
    const found = groups.find((g) => (gidArg === undefined ? g.name === parsed.group : g.id === gidArg));
    if (found === undefined && gidArg === undefined) {
      throw new NotFoundError(`Unable to find group "${parsed.group}": no matching entries in group file`, {
        hint: 'Check the name, or give a numeric gid, e.g. -u 1000:1000',
      });
    }
    gid = found?.id ?? gidArg ?? 0;
  } else if (match !== undefined) {
    supplementary = groups.filter((g) => g.members.includes(match.name)).map((g) => g.id);
  }
  const resolved = { uid, gid, additionalGids: [gid, ...supplementary] };
  for (const id of [uid, ...resolved.additionalGids]) {
    if (id < 0 || id > maxId) throw new InvalidArgumentError(`Invalid user "${spec}": the image gives it id ${id}, outside 0 to ${maxId}`);
  }
  return resolved;
}
