/**
 * berth-net (runtime/native/net.c), the static program that makes bridges, network
 * namespaces and veth pairs through rtnetlink: one short run per step, on the hot path of
 * `run` (a spawn costs about a millisecond; `ip` would take several runs). Bridges are made
 * synchronously (once per network); a container's interfaces asynchronously, beside the
 * rest of its setup. A failure is a {@link NetworkError} whose message is the program's
 * one line without its "berth-net: " prefix: what was being done, then the errno's text
 * (`create veth vethab12 on bridge berth0: File exists`).
 */
import { spawn, spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { NetworkError, UnsupportedError } from '../common/errors.js';
import { findNativeDir } from '../common/native-dir.js';

/**
 * dist/native/berth-net: next to the bundle, or in the repository above this module when
 * it runs from sources (tests); BERTH_NATIVE_DIR overrides, as for the other programs.
 */
export function findNetProgram(env: NodeJS.ProcessEnv = process.env): string {
  const dir = findNativeDir(['berth-net'], env);
  if (dir !== undefined) return join(dir, 'berth-net');
  throw new UnsupportedError('berth-net is not built', { hint: 'Run "npm run build" (it runs make -C runtime/native)' });
}

/**
 * A container's interface on a bridge network: a veth pair from `bridge` (the host's end,
 * `hostIf`) into the namespace at `netns` (`ifName`). berth-net undoes its own part when a
 * step fails: the pair, and the namespace when it made it (`create`).
 */
export interface AttachOptions {
  /** Where the container's network namespace is (or, with `create`, is to be) bind-mounted. */
  readonly netns: string;
  /**
   * Make the namespace (as `ip netns add`: the file must not exist); otherwise it exists
   * already (`network connect` of a running container).
   */
  readonly create: boolean;
  /** An existing bridge (see {@link ensureBridge}). */
  readonly bridge: string;
  /** The veth end on the bridge, in the host's namespace. */
  readonly hostIf: string;
  /** The other end's name in the container's namespace (eth0). */
  readonly ifName: string;
  /** The container's end's MAC address: xx:xx:xx:xx:xx:xx. */
  readonly mac: string;
  /** The container's address with the subnet's prefix length: 10.77.0.2/16. */
  readonly address: string;
  /** The default route's gateway; none on an internal network or a second network. */
  readonly gateway?: string | undefined;
  /** The MTU of the default route (traffic leaving the host); the links' is `mtu`. */
  readonly routeMtu?: number | undefined;
  /** The MTU of both ends of the pair; the kernel's default (1500) when undefined. */
  readonly mtu?: number | undefined;
}

function failure(args: readonly string[], stderr: string, status: string): NetworkError {
  const line = stderr.trim().split('\n').at(-1) ?? '';
  return new NetworkError(line.replace(/^berth-net: /, '') || `berth-net ${args[0] ?? ''} failed (${status})`, {
    hint: 'berth changes the host\'s network as root (CAP_NET_ADMIN, CAP_SYS_ADMIN); "ip link" and "ip netns" show the bridges and veth pairs. "berth system prune" removes what a killed container left',
  });
}

function run(program: string, args: readonly string[]): void {
  const r = spawnSync(program, args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.error !== undefined) throw new NetworkError(`Cannot run ${program}: ${r.error.message}`, { hint: 'Run "npm run build"' });
  if (r.status !== 0) throw failure(args, r.stderr, String(r.status ?? r.signal ?? '?'));
}

/**
 * As {@link run}, without blocking: the container's network is made while berth builds its
 * config and cgroup, and torn down while its directory is removed.
 */
function runAsync(program: string, args: readonly string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.once('error', (err) => reject(new NetworkError(`Cannot run ${program}: ${err.message}`, { hint: 'Run "npm run build"' })));
    child.once('close', (code, signal) => (code === 0 ? resolve() : reject(failure(args, stderr, String(code ?? signal ?? '?')))));
  });
}

/** A veth pair from `bridge` into the container's namespace (made first with `create`). */
export function attachInterface(program: string, o: AttachOptions): Promise<void> {
  const args = ['attach', '--netns', o.netns, '--bridge', o.bridge, '--host-if', o.hostIf, '--if', o.ifName, '--mac', o.mac, '--addr', o.address];
  if (o.create) args.push('--create');
  if (o.gateway !== undefined) args.push('--gateway', o.gateway);
  if (o.gateway !== undefined && o.routeMtu !== undefined) args.push('--route-mtu', String(o.routeMtu));
  if (o.mtu !== undefined) args.push('--mtu', String(o.mtu));
  return runAsync(program, args);
}

/**
 * Deletes the host end of a veth pair (and so the pair; this waits for the kernel's RCU
 * grace periods, tens of milliseconds), and with `removeNetns` unmounts and removes the
 * namespace's file (its pairs then go with it, in the background, once no process is left
 * in it). Idempotent.
 */
export function detachInterface(program: string, o: { netns: string; hostIf?: string | undefined; removeNetns: boolean }): Promise<void> {
  const args = ['detach', '--netns', o.netns];
  if (o.hostIf !== undefined) args.push('--host-if', o.hostIf);
  if (o.removeNetns) args.push('--remove-netns');
  return runAsync(program, args);
}

/**
 * Makes the bridge if it is missing (with `mtu`), gives it `address` (CIDR: 10.77.0.1/16)
 * unless it has it, and sets it up. Idempotent; fails when `name` is another kind of link.
 */
export function ensureBridge(program: string, o: { name: string; address: string; mtu?: number | undefined }): void {
  run(program, ['bridge', '--name', o.name, '--addr', o.address, ...(o.mtu === undefined ? [] : ['--mtu', String(o.mtu)])]);
}

/** Deletes a bridge; a missing one is fine, another kind of link an error. */
export function removeBridge(program: string, name: string): void {
  run(program, ['bridge-del', '--name', name]);
}
