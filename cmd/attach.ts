/**
 * Attaching the terminal to a container through its monitor's attach socket: output frames
 * (docker's stdcopy framing without a tty: 1 byte stream, 3 zero bytes, 4 bytes big-endian
 * length; raw bytes with one) to stdout and stderr, stdin to the container, terminal size
 * through the ctl socket, and SIGINT/SIGTERM forwarded to the container as docker's
 * --sig-proxy does. Resolves with the container's exit status once it has exited.
 */
import { connect, type Socket } from 'node:net';
import { once } from 'node:events';
import { FailedPreconditionError } from '../common/errors.js';
import { trace } from '../common/trace.js';
import type { ContainerEngine, ContainerView } from '../runtime/index.js';

export interface AttachOptions {
  readonly stdin: boolean;
  readonly tty: boolean;
  /** Start the container once attached (run, start -a). */
  readonly start: boolean;
  readonly proxySignals: boolean;
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
export async function attachToContainer(engine: ContainerEngine, view: ContainerView, options: AttachOptions): Promise<number> {
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
  if (options.tty) {
    socket.on('data', (chunk: Buffer) => process.stdout.write(chunk));
  } else {
    const splitter = new FrameSplitter((stream, data) => (stream === 2 ? process.stderr : process.stdout).write(data));
    socket.on('data', (chunk: Buffer) => splitter.push(chunk));
  }

  const cleanups: (() => void)[] = [];
  if (options.tty) {
    const ctl = await open(engine.attachSocket(view, 'ctl')).catch(() => undefined);
    if (ctl !== undefined) {
      const resize = (): void => {
        if (!ctl.destroyed && process.stdout.isTTY) ctl.write(`resize ${process.stdout.rows} ${process.stdout.columns}\n`);
      };
      resize();
      // `stty rows R cols C` is two changes, each a SIGWINCH, and two close together can
      // reach Node as one, read between them: look again a moment later.
      const onWinch = (): void => {
        resize();
        setTimeout(resize, 50).unref();
      };
      process.on('SIGWINCH', onWinch);
      cleanups.push(() => {
        process.off('SIGWINCH', onWinch);
        ctl.destroy();
      });
    }
  }
  if (options.stdin) {
    const stdin = process.stdin;
    if (options.tty && stdin.isTTY) {
      stdin.setRawMode(true);
      cleanups.push(() => stdin.setRawMode(false));
    }
    stdin.on('data', (chunk: Buffer) => socket.write(chunk));
    // The end of our stdin ends the container's (docker's StdinOnce for an attached run).
    stdin.once('end', () => socket.end());
    cleanups.push(() => {
      stdin.removeAllListeners('data');
      stdin.pause();
      stdin.unref?.();
    });
  }
  if (options.proxySignals && !options.tty) {
    const forward = (sig: NodeJS.Signals): void => {
      engine.kill(id, sig).catch(() => undefined);
    };
    process.on('SIGINT', forward);
    process.on('SIGTERM', forward);
    cleanups.push(() => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
    });
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
