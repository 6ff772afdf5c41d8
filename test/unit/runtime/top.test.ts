import { describe, expect, it } from 'vitest';
import { containerTop } from '../../../runtime/index.js';

// The host's ps, asked about this test's own process as the container's only one.
const engine = { pids: async (): Promise<number[]> => [process.pid] };

describe('containerTop', () => {
  it('runs the host\'s ps -f for the container\'s pids by default', async () => {
    const lines = (await containerTop(engine, 'web')).trimEnd().split('\n');
    expect(lines[0]).toMatch(/^UID\s+PID\s+PPID\s+C\s+STIME\s+TTY\s+TIME\s+CMD$/);
    expect(lines.slice(1).map((l) => l.split(/\s+/)[1])).toEqual([String(process.pid)]);
  });

  it('passes ps options on, keeping to the container\'s processes', async () => {
    const text = await containerTop(engine, 'web', { psArgs: ['-e', '-o', 'pid,comm'] });
    expect(text.trimEnd().split('\n').slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual([String(process.pid)]);
  });

  it('refuses an option that a shell would read', async () => {
    await expect(containerTop(engine, 'web', { psArgs: ['-f;rm'] })).rejects.toThrow('Invalid ps option "-f;rm"');
  });
});
