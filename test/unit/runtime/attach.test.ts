import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError } from '../../../common/errors.js';
import { attachToContainer, type AttachEngine, type ContainerView } from '../../../runtime/index.js';
import { recordEngine, type RecordEngine } from '../../helpers/engine.js';

/** A monitor's attach and ctl sockets, and an engine that uses them: its start and kill calls, the lines ctl received. */
interface FakeMonitor {
  readonly engine: AttachEngine;
  readonly calls: string[];
  readonly ctl: string[];
  close(): Promise<void>;
}

let dir: string;
let t: RecordEngine;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-attach-'));
  t = recordEngine();
});
afterEach(() => {
  t.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

async function listen(path: string, onConnection: (socket: Socket) => void): Promise<Server> {
  const server = createServer({ allowHalfOpen: true }, onConnection);
  server.listen(path);
  await once(server, 'listening');
  return server;
}

async function fakeMonitor(onAttach: (socket: Socket) => void, exitCode = 7): Promise<FakeMonitor> {
  const calls: string[] = [];
  const ctl: string[] = [];
  const attach = await listen(join(dir, 'attach'), onAttach);
  const control = await listen(join(dir, 'ctl'), (s) => {
    s.setEncoding('utf8').on('data', (d: string) => ctl.push(...d.split('\n').filter((l) => l !== '')));
    s.once('end', () => s.end());
  });
  const engine: AttachEngine = {
    attachSocket: (_view, which = 'attach') => join(dir, which),
    start: async (id) => {
      calls.push(`start ${id}`);
      return t.engine.find(id);
    },
    wait: async (id) => ({ ...t.engine.find(id), exitCode }),
    kill: async (id, signal) => {
      calls.push(`kill ${id} ${String(signal)}`);
    },
  };
  return {
    engine, calls, ctl,
    close: async () => {
      attach.close();
      control.close();
      await Promise.all([once(attach, 'close'), once(control, 'close')]);
    },
  };
}

function frame(stream: number, text: string): Buffer {
  const data = Buffer.from(text);
  const head = Buffer.alloc(8);
  head[0] = stream;
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

function collect(stream: PassThrough): () => string {
  let text = '';
  stream.setEncoding('utf8').on('data', (d: string) => (text += d));
  return () => text;
}

function running(): ContainerView {
  return t.engine.find(t.add('web', { state: 'running' }).id);
}

describe('attachToContainer', () => {
  it('splits the frames into stdout and stderr, starts the container when asked and resolves with its status', async () => {
    const view = t.engine.find(t.add('web', { state: 'created' }).id);
    const both = Buffer.concat([frame(1, 'out\n'), frame(2, 'err\n'), frame(1, 'more\n')]);
    const monitor = await fakeMonitor((s) => {
      // Frames cut anywhere: across the header and inside the data.
      s.write(both.subarray(0, 3));
      setTimeout(() => s.end(both.subarray(3)), 20);
    });
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    const [out, err] = [collect(stdout), collect(stderr)];
    try {
      const status = await attachToContainer(monitor.engine, view, { tty: false, start: true, stdout, stderr });
      expect(status).toBe(7);
      expect(out()).toBe('out\nmore\n');
      expect(err()).toBe('err\n');
      expect(monitor.calls).toEqual([`start ${view.record.id}`]);
    } finally {
      await monitor.close();
    }
  });

  it('passes the frames through unsplit when multiplexed (the API\'s attach without a tty)', async () => {
    const frames = Buffer.concat([frame(1, 'a'), frame(2, 'b')]);
    const monitor = await fakeMonitor((s) => s.end(frames));
    const stdout = new PassThrough();
    const chunks: Buffer[] = [];
    stdout.on('data', (c: Buffer) => chunks.push(c));
    try {
      await attachToContainer(monitor.engine, running(), { tty: false, start: false, stdout, stderr: new PassThrough(), multiplexed: true });
      expect(Buffer.concat(chunks)).toEqual(frames);
    } finally {
      await monitor.close();
    }
  });

  it('sends stdin to the container and closes its stdin at the end of ours', async () => {
    let received = '';
    const monitor = await fakeMonitor((s) => {
      s.setEncoding('utf8').on('data', (d: string) => (received += d));
      s.once('end', () => s.end(frame(1, `got ${received}`)));
    });
    const stdin = new PassThrough();
    const stdout = new PassThrough();
    const out = collect(stdout);
    try {
      const attached = attachToContainer(monitor.engine, running(), { tty: false, start: false, stdin, stdout, stderr: new PassThrough() });
      stdin.write('hello ');
      stdin.end('world');
      expect(await attached).toBe(7);
      expect(out()).toBe('got hello world');
      expect(stdin.listenerCount('data')).toBe(0);
    } finally {
      await monitor.close();
    }
  });

  it('with a tty, passes output raw and gives the terminal\'s size now and on each change', async () => {
    let resized: (() => void) | undefined;
    let unsubscribed = false;
    let rows = 24;
    let release: (() => void) | undefined;
    const monitor = await fakeMonitor((s) => {
      s.write('\x01raw');
      release = () => s.end();
    });
    const stdout = new PassThrough();
    const out = collect(stdout);
    try {
      const attached = attachToContainer(monitor.engine, running(), {
        tty: true, start: false, stdout, stderr: new PassThrough(),
        terminal: {
          size: () => ({ rows, columns: 80 }),
          onResize: (listener) => {
            resized = listener;
            return () => {
              unsubscribed = true;
            };
          },
        },
      });
      await expect.poll(() => monitor.ctl).toEqual(['resize 24 80']);
      rows = 50;
      resized?.();
      await expect.poll(() => monitor.ctl).toEqual(['resize 24 80', 'resize 50 80']);
      release?.();
      await attached;
      expect(out()).toBe('\x01raw');
      expect(unsubscribed).toBe(true);
    } finally {
      await monitor.close();
    }
  });

  it('forwards the signals it is given to the container until it has exited', async () => {
    let forward: ((signal: NodeJS.Signals) => void) | undefined;
    let stopped = false;
    let release: (() => void) | undefined;
    const monitor = await fakeMonitor((s) => {
      release = () => s.end();
    });
    const view = running();
    try {
      const attached = attachToContainer(monitor.engine, view, {
        tty: false, start: false, stdout: new PassThrough(), stderr: new PassThrough(),
        signals: (f) => {
          forward = f;
          return () => {
            stopped = true;
          };
        },
      });
      await expect.poll(() => release).toBeDefined();
      forward?.('SIGINT');
      await expect.poll(() => monitor.calls).toEqual([`kill ${view.record.id} SIGINT`]);
      release?.();
      await attached;
      expect(stopped).toBe(true);
    } finally {
      await monitor.close();
    }
  });

  it('refuses a container that has stopped', async () => {
    const monitor = await fakeMonitor((s) => s.end());
    const exited = t.engine.find(t.add('old', { state: 'exited' }).id);
    try {
      await expect(attachToContainer(monitor.engine, exited, { tty: false, start: false, stdout: new PassThrough(), stderr: new PassThrough() }))
        .rejects.toThrow(new FailedPreconditionError('You cannot attach to a stopped container, start it first'));
    } finally {
      await monitor.close();
    }
  });
});
