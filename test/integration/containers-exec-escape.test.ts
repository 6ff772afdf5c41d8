/**
 * `berth exec` gives the container nothing of the host's (issue 12, "Secure by default"):
 *
 * - No fd of berth-helper reaches the container's paths (the CVE-2024-21626 class). The
 *   helper held its cgroup2 directory open (O_CLOEXEC, but open) while the exec'd process
 *   changed into its working directory and resolved its command, so `-w /proc/self/fd/3`
 *   put the process in the host's `/sys/fs/cgroup/…`, from where `..` climbs to the host's
 *   `/`, and `/proc/self/fd/3/../../…/x` ran a host file. The host holds a marker that the
 *   container must never read and a script it must never run; the container may be refused
 *   (125, 126 or 127) or run harmlessly, never see them. `run -w` is checked the same way.
 * - Without `-t` the exec'd process's stdout and stderr are pipes berth relays, never
 *   berth's own terminal (which the process could read keystrokes from and set termios on);
 *   with `-t` they are a pty from the container's own devpts.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthBin } from '../helpers/berth.js';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';
import { withTerminal } from '../helpers/terminal.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'script'] });

/** More `..` than any host path has components: from any directory this climbs to `/`. */
const climb = '../'.repeat(24);

/** The fd numbers a helper could leave open: 3 (the plan, then the cgroup2 fd), 4 (the reply) and on. */
const fds = [3, 4, 5, 6, 7, 8, 9];

describe.skipIf(skip !== undefined)('exec and run give the container no fd or terminal of the host', () => {
  let h: ContainerHarness;
  /** A host directory outside every rootfs: /tmp/berth-escape-marker-<hex>. */
  let hostDir: string;
  /** The content of `<hostDir>/marker`, and what `<hostDir>/escape` prints when it runs. */
  let secret: string;

  beforeAll(async () => {
    h = await setUpContainers('exec-escape');
    const hex = randomBytes(8).toString('hex');
    hostDir = `/tmp/berth-escape-marker-${hex}`;
    secret = `host-only-${hex}`;
    await mkdir(hostDir);
    await writeFile(join(hostDir, 'marker'), `${secret}\n`);
    await writeFile(join(hostDir, 'escape'), `#!/bin/sh\necho ESCAPED-${secret}\n`);
    await chmod(join(hostDir, 'escape'), 0o755);
  });

  afterAll(async () => {
    if (hostDir !== undefined) await rm(hostDir, { recursive: true, force: true });
    await h?.cleanup();
  });

  /** A shell line that prints the host marker when `.` lies outside the container's root. */
  const readFromCwd = (): string => `cat ${climb}${hostDir.slice(1)}/marker; pwd`;

  it.concurrent('exec -w /proc/self/fd/N is refused or stays inside the container', async ({ expect }) => {
    await h.withContainer([], ['sleep', '60'], async (id) => {
      for (const fd of fds) {
        const result = await h.berth(['exec', '-w', `/proc/self/fd/${fd}`, id, 'sh', '-c', readFromCwd()], { timeoutMs: 30_000 });
        const seen = `fd ${fd}: exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
        expect(result.stdout + result.stderr, seen).not.toContain(secret);
        expect(result.stdout, seen).not.toContain('cgroup');
        if (result.code !== 0) {
          expect([125, 126, 127], seen).toContain(result.code);
          expect(result.stderr, seen).toContain(`/proc/self/fd/${fd}`);
        }
      }
    });
  });

  it.concurrent('exec of /proc/self/fd/N/../../… never runs a host file', async ({ expect }) => {
    await h.withContainer([], ['sleep', '60'], async (id) => {
      for (const fd of fds) {
        for (const target of [`${hostDir.slice(1)}/escape`, 'bin/true']) {
          const command = `/proc/self/fd/${fd}/${climb}${target}`;
          const result = await h.berth(['exec', id, command], { timeoutMs: 30_000 });
          const seen = `${command}: exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
          expect(result.stdout, seen).not.toContain('ESCAPED');
          expect([125, 126, 127], seen).toContain(result.code);
        }
      }
    });
  });

  it.concurrent('an exec\'d process has only fds 0-2 and its cwd inside the root', async ({ expect }) => {
    await h.withContainer([], ['sleep', '60'], async (id) => {
      // ls itself opens one more (the /proc/self/fd directory it lists).
      const listed = await h.berthOk(['exec', id, 'ls', '/proc/self/fd']);
      const numbers = listed.stdout.split(/\s+/).filter((s) => s !== '').map(Number).sort((a, b) => a - b);
      expect(numbers.slice(0, 3), listed.stdout).toEqual([0, 1, 2]);
      expect(numbers.length, listed.stdout).toBeLessThanOrEqual(4);
      const cwd = await h.berthOk(['exec', '-w', '/tmp', id, 'sh', '-c', 'pwd; readlink /proc/self/cwd']);
      expect(cwd.stdout).toBe('/tmp\n/tmp\n');
      // A missing working directory is an error of exec (docker: runc's chdir fails), not created.
      const missing = await h.berth(['exec', '-w', '/no/such/dir', id, 'true']);
      expect([125, 126, 127], missing.stderr).toContain(missing.code);
      expect(missing.stderr).toContain('/no/such/dir');
    });
  });

  it.concurrent('run -w /proc/self/fd/N is refused or stays inside the container', async ({ expect }) => {
    for (const fd of [3, 4, 5]) {
      const result = await h.berth(['run', '--rm', '-w', `/proc/self/fd/${fd}`, h.image, 'sh', '-c', readFromCwd()], { timeoutMs: 60_000 });
      const seen = `fd ${fd}: exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
      expect(result.stdout + result.stderr, seen).not.toContain(secret);
      if (result.code !== 0) expect([125, 126, 127], seen).toContain(result.code);
    }
  });

  it.concurrent('exec without -t gives the process pipes, not berth\'s terminal; with -t a pty of the container\'s own', async ({ expect }) => {
    await h.withContainer([], ['sleep', '60'], async (id) => {
      const base = `${berthBin} --root ${h.root} exec`;
      const links = 'for f in 0 1 2; do echo "fd$f=$(readlink /proc/$$/fd/$f)"; done';
      const plain = await withTerminal(`${base} ${id} sh -c '${links}'`, '', { timeoutMs: 30_000 });
      expect(plain.code, plain.output).toBe(0);
      expect(plain.output).toMatch(/fd0=\/dev\/null/);
      expect(plain.output).toMatch(/fd1=pipe:\[\d+\]/);
      expect(plain.output).toMatch(/fd2=pipe:\[\d+\]/);
      expect(plain.output).not.toMatch(/fd\d=\/dev\/pts/);
      const interactive = await withTerminal(`${base} -i ${id} sh -c '${links}'`, '', { timeoutMs: 30_000 });
      expect(interactive.code, interactive.output).toBe(0);
      expect(interactive.output).toMatch(/fd0=pipe:\[\d+\]/);
      expect(interactive.output).not.toMatch(/fd\d=\/dev\/pts/);
      const tty = await withTerminal(`${base} -t ${id} sh -c '${links}'`, '', { timeoutMs: 30_000 });
      expect(tty.code, tty.output).toBe(0);
      for (const f of [0, 1, 2]) expect(tty.output).toContain(`fd${f}=/dev/pts/0`);
    });
  });

  it.concurrent('exec relays stdin, stdout and stderr, with the status, and ends with 141 when its reader goes', async ({ expect }) => {
    await h.withContainer([], ['sleep', '60'], async (id) => {
      const both = await h.berth(['exec', id, 'sh', '-c', 'echo out; echo err >&2; exit 5']);
      expect(both.code).toBe(5);
      expect(both.stdout).toBe('out\n');
      expect(both.stderr).toBe('err\n');
      const piped = await h.berth(['exec', '-i', id, 'wc', '-c'], { input: 'x'.repeat(1 << 20) });
      expect(piped.stdout.trim()).toBe(String(1 << 20));
      // Input and output at once, more than a pipe holds: the relay never blocks on one of them.
      const echoed = await h.berth(['exec', '-i', id, 'cat'], { input: 'y'.repeat(4 << 20), timeoutMs: 60_000 });
      expect(echoed.code).toBe(0);
      expect(echoed.stdout.length).toBe(4 << 20);
      // A process left behind holding the pipes does not keep exec waiting (as with -t).
      const behind = await h.berth(['exec', id, 'sh', '-c', 'sleep 30 & echo started'], { timeoutMs: 20_000 });
      expect(behind.timedOut).toBe(false);
      expect(behind.stdout).toBe('started\n');
      expect(behind.ms).toBeLessThan(10_000);
      const head = await withTerminal(`{ ${berthBin} --root ${h.root} exec ${id} yes; echo "status=$?" >&2; } | head -n 1 >/dev/null`, '', { timeoutMs: 30_000 });
      expect(head.output).toContain('status=141');
    });
  });

  it.concurrent('SIGINT to berth\'s process group reaches the exec\'d process through its pipes, as before', async ({ expect }) => {
    await h.withContainer([], ['sleep', '60'], async (id) => {
      const child = spawn(berthBin, ['--root', h.root, 'exec', id, 'sh', '-c', 'trap "echo got-int; exit 9" INT; echo ready; while :; do sleep 0.1; done'], {
        detached: true, stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      const code = new Promise<number | null>((resolve) => child.once('close', resolve));
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no "ready" from the exec'd process: ${out}`)), 20_000);
        child.stdout.on('data', (c: Buffer) => {
          out += c.toString();
          if (out.includes('ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      // A terminal's ^C: the foreground process group, berth and its helper.
      process.kill(-(child.pid ?? 0), 'SIGINT');
      expect(await code).toBe(9);
      expect(out).toContain('got-int');
    });
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
