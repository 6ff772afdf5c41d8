import { describe, expect, it } from 'vitest';
import { createArgs, type ExternalRuntime } from '../../../runtime/external.js';

const runc: ExternalRuntime = { name: 'runc', path: '/usr/sbin/runc', root: '/var/lib/berth/runtimes/runc' };
const dir = '/var/lib/berth/containers/abc';

/** The runtime's own command line from the monitor's --runtime-arg pairs. */
function runtimeArgv(args: readonly string[]): string[] {
  return args.flatMap((a, i) => (args[i - 1] === '--runtime-arg' ? [a] : []));
}

describe('createArgs', () => {
  it('runs `<runtime> create` on the bundle with a pid file and a JSON log, and no console without a tty', () => {
    const args = createArgs(runc, dir, 'abc', { tty: false });
    expect(runtimeArgv(args)).toEqual([
      '/usr/sbin/runc', '--root', runc.root, '--log', `${dir}/runtime.log`, '--log-format', 'json',
      'create', '--bundle', dir, '--pid-file', `${dir}/runtime.pid`, 'abc',
    ]);
    expect(args).not.toContain('--runtime-console');
    expect(args.join(' ')).toContain(`--runtime-pid-file ${dir}/runtime.pid --runtime-log ${dir}/runtime.log`);
  });

  it('gives the runtime and the monitor the same relative console socket with a tty', () => {
    const args = createArgs(runc, dir, 'abc', { tty: true });
    const argv = runtimeArgv(args);
    // The id stays last: runc takes options before it.
    expect(argv.slice(-3)).toEqual(['--console-socket', 'console', 'abc']);
    expect(args.slice(-2)).toEqual(['--runtime-console', 'console']);
  });
});
