/**
 * Sysctls under `berth oci` (issue 12): they are written before /proc/sys is made
 * read-only (runc's order), so a config with the standard readonlyPaths can set them, and
 * one that is not namespaced is refused at create, naming it.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, open, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthBin, requireBuilt } from '../helpers/berth.js';
import { removeEmptyCgroup } from '../helpers/cgroups.js';
import { buildProbe } from '../helpers/containers.js';
import { makeTempDir, removeDir, runStatus, runText } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['cc', 'nsenter'] });

const exited = runStatus;

describe.skipIf(skip !== undefined)('berth oci: sysctls', () => {
  let work: string;
  let bundle: string;
  const ids: string[] = [];
  const oci = (args: readonly string[]): string[] => ['--root', join(work, 'store'), 'oci', '--root', join(work, 'state'), ...args];

  beforeAll(async () => {
    requireBuilt();
    work = await makeTempDir('oci-sysctl');
    bundle = join(work, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    await mkdir(join(rootfs, 'proc'), { recursive: true });
    await copyFile(await buildProbe(work), join(rootfs, 'probe'));
  });

  afterAll(async () => {
    if (work === undefined) return;
    for (const id of ids) await exited(berthBin, oci(['delete', '--force', id])).catch(() => undefined);
    await removeEmptyCgroup('berth-oci');
    await removeDir(work);
  });

  async function create(id: string, sysctl: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
    await writeFile(join(bundle, 'config.json'), JSON.stringify({
      ociVersion: '1.0.2',
      process: { user: { uid: 0, gid: 0 }, args: ['/probe'], cwd: '/', env: ['PATH=/'] },
      root: { path: 'rootfs' },
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
      linux: {
        namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }],
        sysctl,
        readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
      },
    }));
    ids.push(id);
    // The container keeps create's stdio: its output goes to a file, and create is done at
    // its exit, not when every holder of its pipes has closed them.
    const log = join(work, `${id}.log`);
    const handle = await open(log, 'w');
    try {
      const child = spawn(berthBin, oci(['create', '--bundle', bundle, id]), { stdio: ['ignore', handle.fd, handle.fd] });
      const code = await new Promise<number>((resolve, reject) => {
        child.on('error', reject);
        child.on('exit', (c) => resolve(c ?? 128));
      });
      return { code, stdout: '', stderr: await readFile(log, 'utf8') };
    } finally {
      await handle.close();
    }
  }

  it('sets a namespaced sysctl with /proc/sys among the read-only paths', async () => {
    const created = await create('sysctl-ipc', { 'kernel.shmmni': '1234' });
    expect(created.code, created.stderr).toBe(0);
    const state = await exited(berthBin, oci(['state', 'sysctl-ipc']));
    const pid = (JSON.parse(state.stdout) as { pid: number }).pid;
    expect((await runText('nsenter', ['-t', String(pid), '-i', 'cat', '/proc/sys/kernel/shmmni'])).trim()).toBe('1234');
  });

  it('refuses a sysctl that is not namespaced at create, naming it', async () => {
    const created = await create('sysctl-host', { 'kernel.panic': '1' });
    expect(created.code, created.stderr).not.toBe(0);
    expect(created.stderr).toContain('Cannot set the sysctl "kernel.panic": it is not namespaced');
  });
});
