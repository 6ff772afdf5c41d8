import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../common/errors.js';
import type { LinuxNamespace } from '../../../oci/index.js';
import { checkSysctls, normalizeSysctl } from '../../../runtime/sysctl.js';

const all: LinuxNamespace[] = [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }, { type: 'network' }];
const without = (type: string): LinuxNamespace[] => all.filter((ns) => ns.type !== type);

function refusal(sysctl: Record<string, string>, namespaces: readonly LinuxNamespace[]): InvalidArgumentError {
  try {
    checkSysctls(sysctl, namespaces);
  } catch (err) {
    expect(err).toBeInstanceOf(InvalidArgumentError);
    return err as InvalidArgumentError;
  }
  throw new Error(`checkSysctls accepted ${JSON.stringify(sysctl)}`);
}

describe('checkSysctls', () => {
  it('accepts the namespaced sysctls when the container has their namespace', () => {
    const sysctl = {
      'kernel.msgmax': '8192', 'kernel.msgmnb': '16384', 'kernel.msgmni': '32', 'kernel.sem': '250 32000 32 128',
      'kernel.shmall': '1', 'kernel.shmmax': '1', 'kernel.shmmni': '4096', 'kernel.shm_rmid_forced': '1',
      'fs.mqueue.msg_max': '10', 'net.ipv4.ip_forward': '1', 'net/ipv4/ping_group_range': '0 0',
      'kernel.domainname': 'example', 'kernel.hostname': 'box',
    };
    expect(() => checkSysctls(sysctl, all)).not.toThrow();
    expect(() => checkSysctls({}, [])).not.toThrow();
  });

  it('accepts net.* in a network namespace joined by a path that is not the host\'s', () => {
    expect(() => checkSysctls({ 'net.ipv4.ip_forward': '1' }, [{ type: 'network', path: '/run/netns/web' }])).not.toThrow();
  });

  it('refuses a sysctl that is not namespaced, naming it, with a hint', () => {
    for (const key of ['kernel.panic', 'vm.swappiness', 'kernel.core_pattern', 'fs.file-max', 'kernel.msg', 'kernel.shm_next_id_x']) {
      const err = refusal({ [key]: '1' }, all);
      expect(err.message).toBe(`Cannot set the sysctl "${key}": it is not namespaced, so it would change the host`);
      expect(err.hint).toContain('kernel.msg*');
    }
  });

  it('refuses each namespaced sysctl without its namespace', () => {
    expect(refusal({ 'kernel.shmmax': '1' }, without('ipc')).message).toBe(
      'Cannot set the sysctl "kernel.shmmax": the container has no IPC namespace of its own, so it would change the host\'s',
    );
    expect(refusal({ 'fs.mqueue.queues_max': '1' }, without('ipc')).message).toContain('no IPC namespace');
    expect(refusal({ 'net.ipv4.ip_forward': '1' }, without('network')).message).toContain('no network namespace');
    expect(refusal({ 'kernel.hostname': 'x' }, without('uts')).message).toContain('no UTS namespace');
    expect(refusal({ 'kernel.domainname': 'x' }, without('uts')).message).toContain('no UTS namespace');
  });

  it('refuses net.* in the host\'s network namespace joined by path', () => {
    expect(refusal({ 'net.ipv4.ip_forward': '1' }, [{ type: 'network', path: '/proc/1/ns/net' }]).message).toBe(
      'Cannot set the sysctl "net.ipv4.ip_forward": the network namespace "/proc/1/ns/net" is the host\'s',
    );
  });

  it('refuses names with empty or ".." components', () => {
    for (const key of ['', 'net..ipv4', 'net/../../kernel/panic', '.net.ipv4']) {
      expect(refusal({ [key]: '1' }, all).message).toContain(`Invalid sysctl "${key}"`);
    }
  });

  it('normalizes slashes to dots', () => {
    expect(normalizeSysctl('net/ipv4/ip_forward')).toBe('net.ipv4.ip_forward');
  });
});
