/**
 * Another OCI runtime (runc) with a terminal: `-t --runtime runc` as docker runs it. The
 * monitor listens on a console socket in the container's directory, runc sends the pty
 * master there (runc docs/terminals.md), and the monitor then holds it as it holds the one
 * from berth-helper: output, logs, input, resize through the ctl socket, exit status. A
 * runtime that fails or never sends the master makes create fail at once, leaving nothing.
 */
import { chmod, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berthBin } from '../helpers/berth.js';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { runText } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';
import { withTerminal } from '../helpers/terminal.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc', 'script', 'runc'] });

/** Long enough for a slow start, short enough that a monitor waiting forever fails the test. */
const hangMs = 30_000;

/**
 * A runtime whose create leaves a process, writes its pid file and exits 0, but never
 * connects to the console socket; every other command succeeds.
 */
const silentRuntime = `#!/bin/sh
pidfile=
create=
while [ $# -gt 0 ]; do
  case $1 in
    --pid-file) pidfile=$2; shift ;;
    create) create=1 ;;
  esac
  shift
done
[ -n "$create" ] || exit 0
sleep 60 </dev/null >/dev/null 2>&1 &
echo $! > "$pidfile"
`;

function unique(prefix: string): string {
  return `${prefix}-${Math.random().toString(16).slice(2, 10)}`;
}

describe.skipIf(skip !== undefined)('--runtime runc with a terminal', () => {
  let h: ContainerHarness;
  let berth: string;

  beforeAll(async () => {
    h = await setUpContainers('runtimes');
    berth = `${berthBin} --root ${h.root}`;
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  it.concurrent('run -t gives the container a pty of its own devpts, its output and its status', async ({ expect }) => {
    const run = await withTerminal(`${berth} run --rm -t --runtime runc ${h.image} sh -c 'tty; test -t 0 && test -t 1 && echo both-ttys; ls -l /dev/console; exit 4'`, '', { timeoutMs: hangMs });
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(4);
    expect(run.output).toContain('/dev/pts/0');
    expect(run.output).toContain('both-ttys');
    // runc binds the pty's slave over /dev/console: pts 136:0.
    expect(run.output).toMatch(/136,\s+0 .*\/dev\/console/);
  });

  it.concurrent('run -it takes the input through the terminal', async ({ expect }) => {
    const run = await withTerminal(`${berth} run --rm -it --runtime runc ${h.image} sh`, 'echo $((6*7)); exit 3\n', { timeoutMs: hangMs });
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(3);
    expect(run.output).toContain('42');
  });

  it.concurrent('create -t then start -a attaches to the terminal, and logs keep what it printed', async ({ expect }) => {
    const name = unique('created');
    await h.berthOk(['create', '-t', '--runtime', 'runc', '--name', name, h.image, 'sh', '-c', 'tty; echo hello-from-runc; exit 2']);
    try {
      const started = await withTerminal(`${berth} start -a ${name}`, '', { timeoutMs: hangMs });
      expect(started.timedOut).toBe(false);
      expect(started.code).toBe(2);
      expect(started.output).toContain('/dev/pts/0');
      expect(started.output).toContain('hello-from-runc');
      // A tty's output is one stream, logged as stdout with the pty's \r\n.
      expect((await h.berthOk(['logs', name])).stdout).toContain('hello-from-runc\r\n');
      expect(((await h.inspect(name))['State'] as { ExitCode: number }).ExitCode).toBe(2);
    } finally {
      await h.removeQuietly(name);
    }
  });

  it.concurrent('the terminal takes the size of berth\'s, and follows it when it changes', async ({ expect }) => {
    const name = unique('resize');
    // The container waits (10 s at most) for berth's first size and prints it, then for the
    // new one: stty sets rows and columns one after the other, each a SIGWINCH.
    const waitFor = (size: string): string => `i=0; until [ "$(stty size 2>/dev/null)" = "${size}" ] || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done`;
    const inside = `${waitFor('33 77')}; echo "first $(stty size 2>/dev/null)"; ${waitFor('40 100')}; echo "then $(stty size 2>/dev/null)"`;
    // Once the first size is printed, the size of script's pty changes (SIGWINCH to berth).
    // A background job's stdin is /dev/null: stty works on /dev/tty.
    const resizer = `(i=0; until ${berth} logs ${name} 2>/dev/null | grep -q first || [ $i -ge 100 ]; do sleep 0.1; i=$((i+1)); done; stty rows 40 cols 100 </dev/tty) &`;
    const run = await withTerminal(`stty rows 33 cols 77; ${resizer} ${berth} run --rm -t --runtime runc --name ${name} ${h.image} sh -c '${inside}'`, '', { timeoutMs: hangMs });
    expect(run.timedOut).toBe(false);
    expect(run.code).toBe(0);
    expect(run.output).toContain('first 33 77');
    expect(run.output).toContain('then 40 100');
  });

  it.concurrent('a running -t container holds no console socket, and exec -it reaches it', async ({ expect }) => {
    await h.withContainer(['-t', '--runtime', 'runc'], ['sleep', '60'], async (id) => {
      const files = await readdir(h.containerDir(id));
      expect(files).toEqual(expect.arrayContaining(['attach', 'ctl']));
      expect(files).not.toContain('console');
      const exec = await withTerminal(`${berth} exec -it ${id} sh`, 'echo $((6*7)); tty; exit 3\n', { timeoutMs: hangMs });
      expect(exec.timedOut).toBe(false);
      expect(exec.code).toBe(3);
      expect(exec.output).toContain('42');
      expect(exec.output).toMatch(/\/dev\/pts\/\d/);
    });
  });

  it.concurrent('a command runc cannot find or run ends run -t at once with docker\'s 127 or 126', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '-t', '--runtime', 'runc', h.image, 'no-such-command'], { timeoutMs: hangMs });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(127);
    expect(result.stderr).toBe('Error: exec: "no-such-command": executable file not found in $PATH\n');
    const notExecutable = await h.berth(['run', '--rm', '--runtime', 'runc', h.image, '/etc/passwd'], { timeoutMs: hangMs });
    expect(notExecutable.code).toBe(126);
    expect(notExecutable.stderr).toContain('exec: "/etc/passwd": permission denied');
  });

  it.concurrent('a runc create that fails for another reason exits 125 with runc\'s message', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '--runtime', 'runc', '-w', '/etc/passwd', h.image, 'true'], { timeoutMs: hangMs });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('runc create failed with status 1');
  });

  it.concurrent('a runtime that never sends the pty master fails create at once, and its process is killed', async ({ expect }) => {
    const path = join(h.work, 'silent-runtime');
    await writeFile(path, silentRuntime);
    await chmod(path, 0o755);
    const result = await h.berth(['run', '--rm', '-t', '--runtime', path, h.image, 'true'], { timeoutMs: hangMs });
    expect(result.timedOut).toBe(false);
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('silent-runtime create sent no pty master to the console socket `console`');
  });

  it('leaves no container, mount, process, cgroup or runc state behind', async () => {
    expect(await h.leftovers()).toEqual([]);
    expect(await runText('runc', ['--root', join(h.root, 'runtimes', 'runc'), 'list', '-q'])).toBe('');
  });
});
