/**
 * Which sysctls a container may set: only those the kernel keeps per namespace, and only
 * when the container has that namespace, so that a config can never change the host's
 * kernel settings through /proc/sys. The rules are runc's (libcontainer/configs/validate
 * `sysctl`): kernel.msg*, kernel.sem, kernel.shm* and fs.mqueue.* with an IPC namespace,
 * net.* with a network namespace that is not the host's, kernel.domainname and
 * kernel.hostname with a UTS namespace.
 */
import { InvalidArgumentError } from '../common/errors.js';
import type { LinuxNamespace } from '../oci/index.js';

/** The IPC sysctls besides fs.mqueue.* (runc's validSysctlMap, ipc(7) and sysctl docs). */
const ipcSysctls: ReadonlySet<string> = new Set([
  'kernel.msgmax', 'kernel.msgmnb', 'kernel.msgmni', 'kernel.sem', 'kernel.shmall', 'kernel.shmmax', 'kernel.shmmni',
  'kernel.shm_rmid_forced',
]);

/** Netns paths that name the host's own network namespace (runc refuses those too). */
const hostNetnsPaths: ReadonlySet<string> = new Set(['/proc/1/ns/net', '/proc/self/ns/net', '/proc/thread-self/ns/net']);

const hint =
  'Set only namespaced sysctls: kernel.msg*, kernel.sem, kernel.shm* and fs.mqueue.* (with an IPC namespace), net.* ' +
  '(with a network namespace of the container\'s own), kernel.domainname and kernel.hostname (with a UTS namespace)';

/** `net/ipv4/ip_forward` and `net.ipv4.ip_forward` name the same sysctl (sysctl(8)). */
export function normalizeSysctl(key: string): string {
  return key.replace(/\//g, '.');
}

/**
 * Throws InvalidArgumentError unless every key of `sysctl` is namespaced and the container
 * has (by `namespaces`, new or joined by path) the namespace that keeps it.
 */
export function checkSysctls(sysctl: Readonly<Record<string, string>>, namespaces: readonly LinuxNamespace[]): void {
  const has = (type: string): LinuxNamespace | undefined => namespaces.find((ns) => ns.type === type);
  for (const raw of Object.keys(sysctl)) {
    const key = normalizeSysctl(raw);
    if (key === '' || key.split('.').some((part) => part === '' || part === '..')) {
      throw new InvalidArgumentError(`Invalid sysctl "${raw}": it must be a dotted name such as "net.ipv4.ip_forward"`);
    }
    const refuse = (why: string): never => {
      throw new InvalidArgumentError(`Cannot set the sysctl "${raw}": ${why}`, { hint });
    };
    if (ipcSysctls.has(key) || key.startsWith('fs.mqueue.')) {
      if (has('ipc') === undefined) refuse('the container has no IPC namespace of its own, so it would change the host\'s');
      continue;
    }
    if (key.startsWith('net.')) {
      const net = has('network');
      if (net === undefined) refuse('the container has no network namespace of its own, so it would change the host\'s');
      if (net?.path !== undefined && hostNetnsPaths.has(net.path)) refuse(`the network namespace "${net.path}" is the host's`);
      continue;
    }
    if (key === 'kernel.domainname' || key === 'kernel.hostname') {
      if (has('uts') === undefined) refuse('the container has no UTS namespace of its own, so it would change the host\'s');
      continue;
    }
    refuse('it is not namespaced, so it would change the host');
  }
}
