/**
 * Other OCI runtimes (runc, crun, or a path) in place of berth-helper, for `--runtime`. As
 * podman does with them: berth mounts the overlay rootfs on the host (they take a
 * directory), writes config.json into the container's directory as the bundle, and the
 * monitor runs `<runtime> create` instead of the helper; start and delete are the
 * runtime's own commands. The runtime keeps its state under <store>/runtimes/<name>.
 * With -t the runtime sends the pty master to a console socket of the monitor's, which
 * then holds it as it holds berth-helper's. exec goes through berth-helper for every
 * runtime (it joins the container's namespaces and cgroup), not `<runtime> exec`.
 */
import { execFile } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { basename, delimiter, isAbsolute, join } from 'node:path';
import { promisify } from 'node:util';
import { FailedPreconditionError, InvalidArgumentError, NotFoundError } from '../common/errors.js';

const run = promisify(execFile);

/** An external runtime: its binary and its state root. */
export interface ExternalRuntime {
  readonly name: string;
  readonly path: string;
  readonly root: string;
}

/** Finds `name` (runc, crun, or a path) on PATH. */
export async function findRuntime(name: string, stateRoot: string): Promise<ExternalRuntime> {
  const candidates = isAbsolute(name) ? [name] : (process.env['PATH'] ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter).map((d) => join(d, name));
  if (!isAbsolute(name) && name.includes('/')) throw new InvalidArgumentError(`Invalid runtime "${name}": give a name on PATH or an absolute path`);
  for (const c of candidates) {
    try {
      await access(c, constants.X_OK);
      return { name: basename(c), path: c, root: join(stateRoot, basename(c)) };
    } catch {
      // next
    }
  }
  throw new NotFoundError(`OCI runtime "${name}" not found`, { hint: 'Install it (Debian: apt-get install runc crun) or give its absolute path' });
}

/**
 * The console socket's name in the container's directory, relative so that long state
 * paths fit sun_path: the monitor listens there and runs the runtime in that directory,
 * which is also the bundle the runtime changes into (runc utils.go setupSpec).
 */
const consoleSocket = 'console';

/**
 * The monitor's arguments that make it run `<runtime> create` for the bundle `dir`. With
 * `tty` the runtime gets `--console-socket` (runc docs/terminals.md) and sends the pty
 * master there, which the monitor takes as it takes the master from berth-helper.
 */
export function createArgs(rt: ExternalRuntime, dir: string, id: string, options: { tty: boolean }): string[] {
  const argv = [rt.path, '--root', rt.root, '--log', join(dir, 'runtime.log'), '--log-format', 'json', 'create', '--bundle', dir, '--pid-file', join(dir, 'runtime.pid'),
    ...(options.tty ? ['--console-socket', consoleSocket] : []), id];
  return [...argv.flatMap((a) => ['--runtime-arg', a]), '--runtime-pid-file', join(dir, 'runtime.pid'), '--runtime-log', join(dir, 'runtime.log'),
    ...(options.tty ? ['--runtime-console', consoleSocket] : [])];
}

/** Runs `<runtime> --root R <args>`; throws with the runtime's own message. */
export async function runtimeCommand(rt: ExternalRuntime, args: readonly string[]): Promise<void> {
  try {
    await run(rt.path, ['--root', rt.root, ...args], { timeout: 60_000 });
  } catch (err) {
    const stderr = (err as { stderr?: string }).stderr ?? '';
    throw new FailedPreconditionError(`${rt.name} ${args[0] ?? ''} failed: ${stderr.trim().split('\n').at(-1) ?? String(err)}`);
  }
}

/** Mounts the container's overlay on the host at `target` (for runtimes that take a directory). */
export async function mountOverlay(lowers: readonly string[], upper: string, work: string, target: string): Promise<void> {
  try {
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${lowers.join(':')},upperdir=${upper},workdir=${work}`, target]);
  } catch (err) {
    throw new FailedPreconditionError(`Cannot mount the container's rootfs: ${(err as { stderr?: string }).stderr?.trim() ?? String(err)}`);
  }
}

/** Unmounts `target` if something is mounted there; what umount(8) says otherwise is thrown. */
export async function unmountIfMounted(target: string): Promise<void> {
  try {
    await run('umount', [target]);
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
    // util-linux: "not mounted", or, for a directory that is gone, "no mount point specified" / "No such file".
    if (/not mounted|no mount point specified|No such file or directory/.test(stderr)) return;
    throw new FailedPreconditionError(`Cannot unmount "${target}": ${stderr === '' ? String(err) : stderr}`, { cause: err });
  }
}

/**
 * `<runtime> delete --force ID`, where a container the runtime does not know is no error
 * (runc: "container does not exist"; crun: "No such file or directory").
 */
export async function deleteFromRuntime(rt: ExternalRuntime, id: string): Promise<void> {
  try {
    await runtimeCommand(rt, ['delete', '--force', id]);
  } catch (err) {
    if (err instanceof Error && /does not exist|not exist|No such file or directory|not found/i.test(err.message)) return;
    throw err;
  }
}
