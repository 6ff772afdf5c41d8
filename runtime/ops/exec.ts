/**
 * docker exec: a process in a running container, with its config's identity rules (user,
 * capabilities, no_new_privs) unless overridden, joining every namespace the container
 * has, created or joined by path (its network namespace), and its cgroup.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FailedPreconditionError, InvalidArgumentError } from '../../common/errors.js';
import type { ContainerRecord } from '../containers.js';
import { copyFromContainer } from '../copy.js';
import { hostCapabilities } from '../host.js';
import { maxId, mergeEnv, resolveUser } from '../spec.js';
import { requireAllowed } from '../state.js';
import type { EngineContext } from './context.js';

/** docker exec options. */
export interface ExecOptions {
  readonly command: readonly string[];
  readonly env?: readonly string[] | undefined;
  /** The environment bare `-e KEY` entries are taken from: the front end's, never berth's own. */
  readonly hostEnv?: Readonly<Record<string, string | undefined>> | undefined;
  readonly user?: string | undefined;
  readonly workdir?: string | undefined;
  readonly tty?: boolean | undefined;
  readonly interactive?: boolean | undefined;
  readonly detach?: boolean | undefined;
  readonly privileged?: boolean | undefined;
}

/** A file of the container's own, resolved inside its root by berth; undefined when it has none. */
async function readContainerFile(record: ContainerRecord, path: string): Promise<string | undefined> {
  const tmp = await mkdtemp(join(tmpdir(), 'berth-read-'));
  try {
    // A plain path through /proc/<pid>/root would follow an absolute symlink to the host's /etc.
    await copyFromContainer(`/proc/${record.pid}/root`, path, join(tmp, 'f'), { followLink: true, container: record.name });
    return await readFile(join(tmp, 'f'), 'utf8');
  } catch {
    // No such file in the container (or not readable): resolveUser then says which user is unknown.
    return undefined;
  } finally {
    await rm(tmp, { recursive: true, force: true });
  }
}

/** Resolves with the process's exit status (0 at once with `detach`). */
export async function execInContainer(ctx: EngineContext, input: string, options: ExecOptions): Promise<number> {
  const view = ctx.find(input);
  requireAllowed('exec', view);
  const { record } = view;
  if (options.command.length === 0) throw new InvalidArgumentError('No command given to exec');
  const spec = await ctx.readSpec(record.id);
  const base = spec.process;
  if (base === undefined) throw new FailedPreconditionError(`Container ${record.name} has no process in its config`);
  let user = base.user;
  if (options.user !== undefined && options.user !== '') {
    user = { ...resolveUser(options.user, await readContainerFile(record, 'etc/passwd'), await readContainerFile(record, 'etc/group')) };
  }
  if (user.uid > maxId || user.gid > maxId) throw new InvalidArgumentError(`User ids above ${maxId} are not allowed`);
  const env = mergeEnv(base.env ?? [], options.env ?? [], options.hostEnv);
  const all = options.privileged === true ? hostCapabilities() : undefined;
  const caps = all === undefined ? base.capabilities : { bounding: all, effective: all, permitted: all, inheritable: [], ambient: [] };
  const process = {
    ...base, user, env, args: [...options.command], cwd: options.workdir ?? base.cwd, terminal: options.tty === true,
    ...(caps === undefined ? {} : { capabilities: caps }),
    ...(options.privileged === true ? { noNewPrivileges: base.noNewPrivileges ?? false } : {}),
  };
  const namespaces = (spec.linux?.namespaces ?? []).map((n) => n.type);
  const run = await ctx.backendOf(record).exec(ctx.task(record), process, {
    namespaces, stdio: { stdin: options.interactive === true, detach: options.detach === true },
  });
  return run.status;
}
