/**
 * Attaching this terminal to a container (run, start -a, attach): runtime's
 * attachToContainer with berth's own stdin, stdout and stderr, stdin in raw mode with a
 * tty, the terminal's size from SIGWINCH, and SIGINT/SIGTERM forwarded to the container
 * as docker's --sig-proxy does (without a tty: with one, Ctrl-C reaches it through the
 * tty). Resolves with the container's exit status once it has exited.
 */
import { attachToContainer, type ContainerEngine, type ContainerView, type TerminalSize } from '../runtime/index.js';

export interface AttachOptions {
  readonly stdin: boolean;
  readonly tty: boolean;
  /** Start the container once attached (run, start -a). */
  readonly start: boolean;
  readonly proxySignals: boolean;
}

/** This process's terminal, when stdout is one. */
const terminal: TerminalSize = {
  size: () => (process.stdout.isTTY ? { rows: process.stdout.rows, columns: process.stdout.columns } : undefined),
  onResize(listener) {
    // `stty rows R cols C` is two changes, each a SIGWINCH, and two close together can
    // reach Node as one, read between them: look again a moment later.
    const onWinch = (): void => {
      listener();
      setTimeout(listener, 50).unref();
    };
    process.on('SIGWINCH', onWinch);
    return () => process.off('SIGWINCH', onWinch);
  },
};

/** SIGINT and SIGTERM to `forward` until the returned function is called. */
function proxySignals(forward: (signal: NodeJS.Signals) => void): () => void {
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  return () => {
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
  };
}

/** Attaches, optionally starts, and waits for the container to exit; resolves with its status. */
export async function attachTerminal(engine: ContainerEngine, view: ContainerView, options: AttachOptions): Promise<number> {
  const stdin = process.stdin;
  const raw = options.stdin && options.tty && stdin.isTTY;
  try {
    if (raw) stdin.setRawMode(true);
    return await attachToContainer(engine, view, {
      tty: options.tty, start: options.start, stdin: options.stdin ? stdin : undefined, stdout: process.stdout, stderr: process.stderr,
      terminal, signals: options.proxySignals && !options.tty ? proxySignals : undefined,
    });
  } finally {
    if (raw) stdin.setRawMode(false);
    // Node would otherwise wait for stdin to end before it exits.
    if (options.stdin) stdin.unref?.();
  }
}
