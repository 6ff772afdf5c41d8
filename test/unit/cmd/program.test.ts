import { describe, expect, it } from 'vitest';
import { buildProgram, commandName } from '../../../cmd/main.js';

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
});
