/**
 * The per-container monitors' memory: berth-monitor's resident set next to conmon's (podman)
 * and containerd-shim-runc-v2's (docker), each for a detached `sleep 60` container, read from
 * /proc/PID/status a moment after the start; the containers are removed right after.
 */
import { findProcesses, processInfo, readRss, type Rss } from './host.js';
import { check, output, sleep, type CommandSpec } from './proc.js';
import type { BerthEngine, DockerEngine, PodmanEngine } from './start-runners.js';

/** One monitor's reading, or why there is none. */
export interface MonitorReading {
  readonly id: 'berth' | 'podman' | 'docker';
  readonly label: string;
  readonly rss?: Rss;
  readonly failure?: string;
}

/** How long a detached container runs before its monitor is read. */
const settleMs = 1_000;

async function outputOf(spec: CommandSpec): Promise<string> {
  return output(spec.file, spec.args, spec.env);
}

/**
 * Starts a detached container with `start`, finds its monitor with `find`, reads it, and
 * always removes the container with `remove`.
 */
async function reading(
  id: MonitorReading['id'],
  label: string,
  start: () => Promise<string>,
  find: (container: string) => Promise<number>,
  remove: (container: string) => Promise<void>,
): Promise<MonitorReading> {
  let container = '';
  try {
    container = (await start()).split('\n').at(-1)?.trim() ?? '';
    if (container === '') throw new Error('no container id printed');
    await sleep(settleMs);
    const pid = await find(container);
    return { id, label, rss: await readRss(pid) };
  } catch (err) {
    return { id, label, failure: err instanceof Error ? err.message : String(err) };
  } finally {
    if (container !== '') await remove(container);
  }
}

/** berth-monitor of `berth run -d REF sleep 60`: comm "berth-monitor", argv naming the bench's root. */
export function berthMonitor(e: BerthEngine, ref: string): Promise<MonitorReading> {
  return reading('berth', 'berth-monitor (berth run -d)',
    () => outputOf(e.spec(['run', '-d', ref, 'sleep', '60'])),
    async (container) => {
      const pids = await findProcesses('berth-monitor', `${e.root}/containers/${container}`);
      const all = pids.length > 0 ? pids : await findProcesses('berth-monitor', e.root);
      if (all.length !== 1) throw new Error(`${all.length} berth-monitor processes name ${e.root}`);
      return all[0] ?? -1;
    },
    async (container) => void (await check(e.spec(['rm', '-f', container]))));
}

/** conmon of `podman run -d --network none REF sleep 60`, by the container's ConmonPid. */
export function podmanConmon(e: PodmanEngine, ref: string): Promise<MonitorReading> {
  return reading('podman', 'conmon (podman run -d)',
    () => outputOf(e.spec(['run', '-d', '--network', 'none', '--cgroup-parent', e.cgroupParent, ref, 'sleep', '60'])),
    async (container) => {
      const pid = Number(await outputOf(e.spec(['inspect', '--format', '{{.State.ConmonPid}}', container])));
      const { comm } = await processInfo(pid);
      if (comm !== 'conmon') throw new Error(`ConmonPid ${pid} is "${comm}", not conmon`);
      return pid;
    },
    async (container) => void (await check(e.spec(['rm', '-f', '-t', '0', container]))));
}

/** containerd-shim-runc-v2 of `docker run -d --network none REF sleep 60`: the parent of the container's init. */
export function dockerShim(e: DockerEngine, ref: string): Promise<MonitorReading> {
  return reading('docker', 'containerd-shim-runc-v2 (docker run -d)',
    () => outputOf(e.spec(['run', '-d', '--network', 'none', '--cgroup-parent', e.cgroupParent, ref, 'sleep', '60'])),
    async (container) => {
      const init = Number(await outputOf(e.spec(['inspect', '--format', '{{.State.Pid}}', container])));
      const { ppid } = await processInfo(init);
      const { comm } = await processInfo(ppid);
      if (!comm.startsWith('containerd-shim')) throw new Error(`the parent of the container's init is "${comm}"`);
      return ppid;
    },
    async (container) => void (await check(e.spec(['rm', '-f', container]))));
}
