/**
 * A terminal for berth in tests: `script` (util-linux) runs a shell command on a pty of its
 * own, so that berth's stdin and stdout are a tty as they are for `berth run -t` by hand.
 */
import { spawn } from 'node:child_process';

/** What ran under {@link withTerminal}: stdout and stderr of the pty, and the status. */
export interface TerminalResult {
  readonly output: string;
  readonly code: number;
  /** `timeoutMs` ran out and `script` was killed. */
  readonly timedOut: boolean;
}

/**
 * Runs the shell command `command` under `script`; `input` is typed after 300 ms, then the
 * input ends. With `timeoutMs`, `script` (its pid only) is killed with SIGKILL when it runs
 * out, so that a hang fails the test with the output so far.
 */
export function withTerminal(command: string, input = '', options: { timeoutMs?: number } = {}): Promise<TerminalResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('script', ['-qefc', command, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let output = '';
    let timedOut = false;
    child.stdout.on('data', (c: Buffer) => (output += c.toString()));
    child.stderr.on('data', (c: Buffer) => (output += c.toString()));
    const typing = setTimeout(() => child.stdin.end(input), 300);
    const timer = options.timeoutMs === undefined ? undefined : setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs);
    child.stdin.on('error', () => undefined);
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(typing);
      clearTimeout(timer);
      resolve({ output, code: code ?? -1, timedOut });
    });
  });
}
