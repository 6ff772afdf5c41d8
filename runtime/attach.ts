/**
 * Attaching to a container through its monitor's attach socket: output frames (docker's
 * stdcopy framing without a tty: 1 byte stream, 3 zero bytes, 4 bytes big-endian length;
 * raw bytes with one) to stdout and stderr, stdin to the container, terminal size through
 * the ctl socket ("resize ROWS COLS" lines), and signals forwarded to the container as
 * docker's --sig-proxy does. The streams are the caller's: the CLI's terminal, or a
 * connection the API server hijacked. Resolves with the container's exit status once it
 * has exited.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import type { Readable, Writable } from 'node:stream';
import { FailedPreconditionError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import type { ContainerEngine, ContainerView } from './engine.js';

/** The engine calls an attach makes. */
export type AttachEngine = Pick<ContainerEngine, 'attachSocket' | 'start' | 'wait' | 'kill'>;

/** A terminal's size, for a container with a tty. */
export interface TerminalSize {
  /** Rows and columns now; undefined when unknown (no terminal). */
  size(): { readonly rows: number; readonly columns: number } | undefined;
  /** Calls `listener` on each change until the function it returns is called. */
  onResize(listener: () => void): () => void;
}

/** What to attach, and to which streams. */
export interface AttachOptions {
  /** The container has a tty: its output is one raw stream, and `terminal` sizes it. */
  readonly tty: boolean;
  /** Start the container once attached (run, start -a). */
  readonly start: boolean;
  /** The container's stdin: data goes in, and its end closes the container's (docker's StdinOnce). Omitted: not attached. */
  readonly stdin?: Readable | undefined;
  readonly stdout: Writable;
  /** The container's stderr, when there is no tty and the output is not `multiplexed`. */
  readonly stderr: Writable;
  /**
   * Write the monitor's stdcopy frames to `stdout` as they come, unsplit: what docker's
   * attach API sends on a hijacked connection without a tty.
   */
  readonly multiplexed?: boolean | undefined;
  /** With a tty: the size to give it, now and on each change. */
  readonly terminal?: TerminalSize | undefined;
  /**
   * Signals to forward to the container (docker's --sig-proxy): called once with the
   * forwarder, returns the function that stops the forwarding.
   */
  readonly signals?: ((forward: (signal: NodeJS.Signals) => void) => () => void) | undefined;
}

/** Splits stdcopy frames. */
class FrameSplitter {
  #pending: Buffer = Buffer.alloc(0);

  constructor(readonly onFrame: (stream: number, data: Buffer) => void) {}

  push(chunk: Buffer): void {
    this.#pending = this.#pending.length === 0 ? chunk : Buffer.concat([this.#pending, chunk]);
    while (this.#pending.length >= 8) {
      const len = this.#pending.readUInt32BE(4);
      if (this.#pending.length < 8 + len) break;
      this.onFrame(this.#pending[0] ?? 1, this.#pending.subarray(8, 8 + len));
      this.#pending = this.#pending.subarray(8 + len);
    }
  }
}

async function open(path: string): Promise<Socket> {
  const socket = connect({ path, allowHalfOpen: true });
  await once(socket, 'connect');
  return socket;
}

/** Attaches, optionally starts, and waits for the container to exit; resolves with its status. */
export async function attachToContainer(engine: AttachEngine, view: ContainerView, options: AttachOptions): Promise<number> {
  const id = view.record.id;
  if (view.status !== 'created' && view.status !== 'running') {
    throw new FailedPreconditionError(`You cannot attach to a stopped container, start it first`);
  }
  const socket = await open(engine.attachSocket(view));
  // The monitor closes the socket once the container has exited and its output is drained:
  // with allowHalfOpen that is an 'end', not a 'close'.
  const done = new Promise<void>((resolve) => {
    socket.once('end', () => resolve());
    socket.once('close', () => resolve());
    // A reset when the monitor goes is the end too; 'on', so a second error is no crash.
    socket.on('error', () => resolve());
  });
  const { stdout, stderr } = options;
  if (options.tty || options.multiplexed === true) {
    socket.on('data', (chunk: Buffer) => stdout.write(chunk));
  } else {
    const splitter = new FrameSplitter((stream, data) => (stream === 2 ? stderr : stdout).write(data));
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
  }

  const cleanups: (() => void)[] = [];
  const terminal = options.terminal;
  if (options.tty && terminal !== undefined) {
    const ctl = await open(engine.attachSocket(view, 'ctl')).catch(() => undefined);
    if (ctl !== undefined) {
      const resize = (): void => {
        const size = terminal.size();
        if (!ctl.destroyed && size !== undefined) ctl.write(`resize ${size.rows} ${size.columns}\n`);
      };
      resize();
      const stop = terminal.onResize(resize);
      cleanups.push(() => {
        stop();
        ctl.destroy();
      });
    }
  }
  const stdin = options.stdin;
  if (stdin !== undefined) {
    const onData = (chunk: Buffer): void => {
      socket.write(chunk);
    };
    // The end of our stdin ends the container's (docker's StdinOnce for an attached run).
    const onEnd = (): void => {
      socket.end();
    };
    stdin.on('data', onData);
    stdin.once('end', onEnd);
    cleanups.push(() => {
      stdin.off('data', onData);
      stdin.off('end', onEnd);
      stdin.pause();
    });
  }
  if (options.signals !== undefined) {
    cleanups.push(options.signals((sig) => {
      engine.kill(id, sig).catch(() => undefined);
    }));
  }
  try {
    trace('attached');
    if (options.start) await engine.start(id);
    trace('started');
    await done;
    trace('attach socket done');
    const final = await engine.wait(id);
    return final.exitCode;
  } finally {
    for (const c of cleanups.reverse()) c();
    socket.destroy();
  }
}
