import { afterEach, describe, expect, it, vi } from 'vitest';
import { buildProgram, commandName, main, withoutHelpOfUnknownCommand } from '../../../cmd/main.js';

/** Runs `main(argv)` with stdout and stderr captured. */
async function runMain(argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => out.push(String(chunk)) > 0);
  vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => err.push(String(chunk)) > 0);
  const code = await main(argv);
  vi.restoreAllMocks();
  return { code, stdout: out.join(''), stderr: err.join('') };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('the command line program', () => {
  it('finds the command past the global options', () => {
    expect(commandName(['run', '--rm', 'busybox'])).toBe('run');
    expect(commandName(['--root', '/tmp/x', '--debug', 'ps', '-a'])).toBe('ps');
    expect(commandName(['--root=/tmp/x', 'exec', 'c1', 'sh'])).toBe('exec');
    expect(commandName(['--help'])).toBeUndefined();
    expect(commandName(['--unknown', 'run'])).toBeUndefined();
    expect(commandName([])).toBeUndefined();
  });

  it('registers only the group of the command named, and everything otherwise', () => {
    const names = (argv?: string[]): string[] => buildProgram(argv).commands.map((c) => c.name());
    const all = names();
    expect(all).toEqual(expect.arrayContaining(['pull', 'run', 'create', 'rm', 'exec', 'ps', 'container', 'image', 'login', 'logout']));
    expect(names(['run', 'busybox'])).toEqual(['run', 'create']);
    expect(names(['--root', '/x', 'stop', 'c1'])).toEqual(['start', 'stop', 'kill', 'restart', 'rm', 'wait', 'rename', 'attach']);
    // Help, typos and unknown commands see them all.
    expect(names(['--help'])).toEqual(all);
    expect(names(['rnu'])).toEqual(all);
    expect(names(['help', 'run'])).toEqual(all);
  });

  it('drops help flags only where they ask for the help of a command berth does not have', () => {
    const strip = (argv: string[]): readonly string[] => withoutHelpOfUnknownCommand(buildProgram(argv), argv);
    expect(strip(['build', '--help'])).toEqual(['build']);
    expect(strip(['--root', '/x', 'nosuch', '-x', '-h', 'a'])).toEqual(['--root', '/x', 'nosuch', '-x', 'a']);
    expect(strip(['volume', 'nosuch', '--help'])).toEqual(['volume', 'nosuch']);
    // Commands berth has, aliases included, keep their help; so do operands and the help command.
    const kept = [
      ['--help'],
      ['run', '--help'],
      ['volume', '--help'],
      ['volume', 'list', '--help'],
      ['run', 'busybox', '--help'],
      ['help', 'nosuch', '--help'],
      ['nosuch'],
    ];
    for (const argv of kept) expect(strip(argv)).toBe(argv);
  });
});

describe('help and unknown commands', () => {
  it('refuses the help of an unknown command as the command itself: usage error, exit code 2', async () => {
    const cases: [argv: string[], name: string][] = [
      [['build', '--help'], 'build'],
      [['nosuch', '--help'], 'nosuch'],
      [['build'], 'build'],
      [['--root', '/x', 'build', '-h'], 'build'],
      [['volume', 'nosuch', '--help'], 'nosuch'],
    ];
    for (const [argv, name] of cases) {
      const result = await runMain(argv);
      expect(result, argv.join(' ')).toEqual({ code: 2, stdout: '', stderr: `error: unknown command '${name}'\n(run "berth --help" for usage)\n` });
    }
  });

  it('suggests the command meant', async () => {
    const result = await runMain(['rnu', '--help']);
    expect(result).toEqual({ code: 2, stdout: '', stderr: "error: unknown command 'rnu'\n(Did you mean run?)\n(run \"berth --help\" for usage)\n" });
  });

  it("prints a command's help, and berth's, with exit code 0", async () => {
    const run = await runMain(['run', '--help']);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^Usage: berth run \[options\] <image> \[command\.\.\.\]\n\nCreate and run a new container from an image\n/);
    expect(run.stderr).toBe('');
    const top = await runMain(['--help']);
    expect(top.code).toBe(0);
    expect(top.stdout).toMatch(/^Usage: berth \[options\] \[command\]\n/);
    expect(top.stdout).toContain('\n  run [options] <image> [command...]');
    expect(top.stderr).toBe('');
  });
});
