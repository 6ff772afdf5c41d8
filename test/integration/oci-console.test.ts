/**
 * The pty bind for /dev/console never follows a symlink in the rootfs (CVE-2025-52565,
 * issue 12): a bundle whose config mounts no tmpfs on /dev keeps the rootfs's own /dev,
 * and there `console -> /target` would have berth bind the pty slave over /target. The
 * bundle is run with `berth oci create --console-socket` + `start`; a small Python
 * listener (recvmsg SCM_RIGHTS) takes the pty master and keeps what the probe printed.
 */
import { spawn } from 'node:child_process';
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthBin, requireBuilt } from '../helpers/berth.js';
import { removeEmptyCgroup } from '../helpers/cgroups.js';
import { buildProbe, parseProbe, sleep } from '../helpers/containers.js';
import { makeTempDir, removeDir, runStatus } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['cc', 'python3'] });

/** Accepts one connection on argv[1], takes the fd it sends, copies it to argv[2] until EIO. */
const listener = `
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.bind(sys.argv[1])
s.listen(1)
print("listening", flush=True)
c, _ = s.accept()
_, fds, _, _ = socket.recv_fds(c, 16, 1)
out = b""
while True:
    try:
        data = os.read(fds[0], 65536)
    except OSError:
        break
    if not data:
        break
    out += data
open(sys.argv[2], "wb").write(out)
`;

const exited = runStatus;

describe.skipIf(skip !== undefined)('berth oci with a terminal: the /dev/console bind', () => {
  let work: string;
  const oci = (args: readonly string[]): string[] => ['--root', join(work, 'store'), 'oci', '--root', join(work, 'state'), ...args];

  beforeAll(async () => {
    requireBuilt();
    work = await makeTempDir('oci-console');
  });

  afterAll(async () => {
    if (work !== undefined) {
      await exited(berthBin, oci(['delete', '--force', 'console-link'])).catch(() => undefined);
      await removeEmptyCgroup('berth-oci');
      await removeDir(work);
    }
  });

  it('a rootfs /dev/console that is a symlink to /target: the pty goes on /dev/console, never on /target', async () => {
    const bundle = join(work, 'bundle');
    const rootfs = join(bundle, 'rootfs');
    await mkdir(join(rootfs, 'dev', 'pts'), { recursive: true });
    await mkdir(join(rootfs, 'proc'));
    await copyFile(await buildProbe(work), join(rootfs, 'probe'));
    await writeFile(join(rootfs, 'target'), 'the file the link names\n');
    await symlink('/target', join(rootfs, 'dev', 'console'));
    await writeFile(join(bundle, 'config.json'), JSON.stringify({
      ociVersion: '1.0.2',
      process: { terminal: true, user: { uid: 0, gid: 0 }, args: ['/probe'], cwd: '/', env: ['PATH=/'] },
      root: { path: 'rootfs' },
      // No tmpfs on /dev: the rootfs's /dev, with its link, is the container's.
      mounts: [
        { destination: '/proc', type: 'proc', source: 'proc' },
        { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620'] },
      ],
      linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'ipc' }, { type: 'uts' }] },
    }));
    const socketPath = join(work, 'console.sock');
    const outputPath = join(work, 'console.out');
    const python = spawn('python3', ['-c', listener, socketPath, outputPath], { stdio: ['ignore', 'pipe', 'inherit'] });
    const pythonDone = new Promise<number>((resolve) => python.on('close', (code) => resolve(code ?? 128)));
    await new Promise<void>((resolve) => python.stdout.once('data', () => resolve()));
    const create = await exited(berthBin, oci(['create', '--bundle', bundle, '--console-socket', socketPath, 'console-link']));
    if (create.code !== 0) python.kill();
    expect(create.code, create.stderr).toBe(0);
    const start = await exited(berthBin, oci(['start', 'console-link']));
    expect(start.code, start.stderr).toBe(0);
    expect(await Promise.race([pythonDone, sleep(30_000).then(() => 'timeout')])).toBe(0);
    const report = parseProbe((await readFile(outputPath, 'utf8')).replace(/\r\n/g, '\n'));
    expect(report.mounts.filter((m) => m.target === '/target')).toEqual([]);
    expect(report.mounts.filter((m) => m.target === '/dev/console').map((m) => m.fstype)).toEqual(['devpts']);
    expect(await readFile(join(rootfs, 'target'), 'utf8')).toBe('the file the link names\n');
  });
});
