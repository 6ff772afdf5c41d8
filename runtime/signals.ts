/** Signals by name and number, as docker takes them ("KILL", "SIGKILL", "9", "SIGRTMIN+3"). */
import { InvalidArgumentError } from '../common/errors.js';

const signalNumbers: Readonly<Record<string, number>> = {
  SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGILL: 4, SIGTRAP: 5, SIGABRT: 6, SIGBUS: 7, SIGFPE: 8, SIGKILL: 9, SIGUSR1: 10,
  SIGSEGV: 11, SIGUSR2: 12, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15, SIGSTKFLT: 16, SIGCHLD: 17, SIGCONT: 18, SIGSTOP: 19,
  SIGTSTP: 20, SIGTTIN: 21, SIGTTOU: 22, SIGURG: 23, SIGXCPU: 24, SIGXFSZ: 25, SIGVTALRM: 26, SIGPROF: 27, SIGWINCH: 28,
  SIGIO: 29, SIGPWR: 30, SIGSYS: 31,
};

/** Parses a signal as docker does: "KILL", "SIGKILL", "9"; throws InvalidArgumentError. */
export function parseSignal(value: string): number {
  const upper = value.toUpperCase();
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n >= 1 && n <= 64) return n;
  } else {
    const n = signalNumbers[upper.startsWith('SIG') ? upper : `SIG${upper}`];
    if (n !== undefined) return n;
    const rt = /^SIGRTMIN(?:\+(\d+))?$|^SIGRTMAX(?:-(\d+))?$/.exec(upper.startsWith('SIG') ? upper : `SIG${upper}`);
    if (rt !== null) {
      const n2 = rt[0].includes('MAX') ? 64 - Number(rt[2] ?? 0) : 34 + Number(rt[1] ?? 0);
      if (n2 >= 34 && n2 <= 64) return n2;
    }
  }
  throw new InvalidArgumentError(`Invalid signal: ${value}`, { hint: 'Give a signal name such as SIGTERM or KILL, or a number from 1 to 64' });
}
