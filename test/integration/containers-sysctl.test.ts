/**
 * docker's --sysctl: namespaced kernel parameters set in the container's own namespaces,
 * before /proc/sys is made read-only; the others refused at create with nothing made
 * (runtime/sysctl.ts, runc's rules).
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

describe.skipIf(skip !== undefined)('run --sysctl', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('sysctl');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  it('sets an IPC and a network sysctl in the container\'s namespaces, not the host\'s; inspect shows them', async ({ expect }) => {
    const hostShmmni = (await readFile('/proc/sys/kernel/shmmni', 'utf8')).trim();
    const hostForward = (await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim();
    const id = (await h.berthOk(['create', '--sysctl', 'kernel.shmmni=1234', '--sysctl', 'net.ipv4.ip_forward=0', h.image, 'sh', '-c', 'cat /proc/sys/kernel/shmmni /proc/sys/net/ipv4/ip_forward'])).stdout.trim();
    try {
      const hostConfig = (await h.inspect(id))['HostConfig'] as Record<string, unknown>;
      expect(hostConfig['Sysctls']).toEqual({ 'kernel.shmmni': '1234', 'net.ipv4.ip_forward': '0' });
      const run = await h.berth(['start', '-a', id]);
      expect(run.code, run.stderr).toBe(0);
      expect(run.stdout).toBe('1234\n0\n');
    } finally {
      await h.removeQuietly(id);
    }
    expect((await readFile('/proc/sys/kernel/shmmni', 'utf8')).trim()).toBe(hostShmmni);
    expect((await readFile('/proc/sys/net/ipv4/ip_forward', 'utf8')).trim()).toBe(hostForward);
  });

  it('refuses a sysctl the kernel does not keep per namespace, and net.* with --network host, leaving nothing', async ({ expect }) => {
    const before = await h.listIds();
    const panic = await h.berth(['run', '--rm', '--sysctl', 'kernel.panic=1', h.image, 'true']);
    expect(panic.code).toBe(125);
    expect(panic.stderr).toContain('kernel.panic');
    const hostNet = await h.berth(['run', '--rm', '--network', 'host', '--sysctl', 'net.ipv4.ip_forward=1', h.image, 'true']);
    expect(hostNet.code).toBe(125);
    expect(hostNet.stderr).toContain('net.ipv4.ip_forward');
    const noValue = await h.berth(['run', '--rm', '--sysctl', 'kernel.shmmni', h.image, 'true']);
    expect(noValue.code).toBe(2);
    expect(noValue.stderr).toContain('invalid argument "kernel.shmmni" for "--sysctl" flag');
    expect(await h.listIds()).toEqual(before);
  });
});
