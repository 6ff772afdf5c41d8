/**
 * Facts about this host and its processes that the engine asks for: whether a monitor
 * still runs, the capabilities berth may hand on, its hard resource limits, and files of
 * an image as its merged rootfs would show them.
 */
import { readFileSync } from 'node:fs';
import { allCapabilities } from './defaults.js';
import { parseCpuList, type HostResources } from './resources.js';

/** True when `pid` is a berth-monitor that has not exited. */
export function monitorAlive(pid: number): boolean {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return comm === 'berth-monitor' && state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

/**
 * True while `pid` runs with `text` in its command line (not a zombie): a container's
 * monitor (its --dir names the container) or the exit command it became (which names it).
 */
export function processMentions(pid: number, text: string): boolean {
  if (pid <= 0) return false;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
    const state = stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3);
    return state !== 'Z' && state !== 'X' && readFileSync(`/proc/${pid}/cmdline`, 'latin1').includes(text);
  } catch {
    return false;
  }
}

/** The capabilities this process may hand on (its bounding set): what --privileged gives. */
export function hostCapabilities(): string[] {
  const status = readFileSync('/proc/self/status', 'latin1');
  const m = /^CapBnd:\s*([0-9a-f]+)$/m.exec(status);
  const mask = BigInt(`0x${m?.[1] ?? '0'}`);
  return allCapabilities.filter((_c, bit) => ((mask >> BigInt(bit)) & 1n) === 1n);
}

/** Hard limits of this process by rlimit type (RLIMIT_NOFILE, ...), from /proc/self/limits. */
export function currentHardLimits(): Map<string, number> {
  const names: Readonly<Record<string, string>> = {
    'Max cpu time': 'RLIMIT_CPU', 'Max file size': 'RLIMIT_FSIZE', 'Max data size': 'RLIMIT_DATA', 'Max stack size': 'RLIMIT_STACK',
    'Max core file size': 'RLIMIT_CORE', 'Max resident set': 'RLIMIT_RSS', 'Max processes': 'RLIMIT_NPROC', 'Max open files': 'RLIMIT_NOFILE',
    'Max locked memory': 'RLIMIT_MEMLOCK', 'Max address space': 'RLIMIT_AS', 'Max file locks': 'RLIMIT_LOCKS',
    'Max pending signals': 'RLIMIT_SIGPENDING', 'Max msgqueue size': 'RLIMIT_MSGQUEUE', 'Max nice priority': 'RLIMIT_NICE',
    'Max realtime priority': 'RLIMIT_RTPRIO', 'Max realtime timeout': 'RLIMIT_RTTIME',
  };
  const out = new Map<string, number>();
  for (const line of readFileSync('/proc/self/limits', 'latin1').split('\n').slice(1)) {
    const m = /^(.+?)\s{2,}(\S+)\s+(\S+)/.exec(line);
    const type = m === null ? undefined : names[m[1] ?? ''];
    if (m !== null && type !== undefined) out.set(type, m[3] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[3]));
  }
  return out;
}

/** Files of an image as its container will see them (image-file.ts). */
export { readImageFile } from './image-file.js';

/** The CPUs and memory nodes of this host, for the checks of --cpus and --cpuset-*. */
export function hostResources(): HostResources {
  const read = (path: string, fallback: string): string => {
    try {
      return readFileSync(path, 'latin1').trim() || fallback;
    } catch {
      return fallback;
    }
  };
  const cpusetCpus = read('/sys/devices/system/cpu/online', '0');
  return { cpus: parseCpuList(cpusetCpus, 'the online CPUs').length, cpusetCpus, cpusetMems: read('/sys/devices/system/node/online', '0') };
}
