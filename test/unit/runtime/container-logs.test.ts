import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerLogs, type LogEntry } from '../../../runtime/index.js';
import { recordEngine, type RecordEngine } from '../../helpers/engine.js';

let t: RecordEngine;
beforeEach(() => {
  t = recordEngine();
});
afterEach(() => t.cleanup());

async function all(entries: AsyncIterable<LogEntry>): Promise<string[]> {
  const out: string[] = [];
  for await (const e of entries) out.push(`${e.stream} ${e.text}`);
  return out;
}

function writeLog(path: string, lines: readonly (readonly [stream: string, text: string])[]): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, lines.map(([stream, log], i) => `${JSON.stringify({ log, stream, time: `2024-01-01T00:00:0${i}.000000000Z` })}\n`).join(''));
}

describe('containerLogs', () => {
  it('reads the container\'s json-file log, with tail', async () => {
    const view = t.engine.find(t.add('web').id);
    writeLog(t.engine.logPath(view.record.id), [['stdout', 'one\n'], ['stderr', 'two\n'], ['stdout', 'three\n']]);
    expect(await all(containerLogs(t.engine, view))).toEqual(['stdout one\n', 'stderr two\n', 'stdout three\n']);
    expect(await all(containerLogs(t.engine, view, { tail: 1 }))).toEqual(['stdout three\n']);
  });

  it('ends a follow once the container has stopped, and at once for a container that is gone', async () => {
    const exited = t.engine.find(t.add('old', { state: 'exited' }).id);
    writeLog(t.engine.logPath(exited.record.id), [['stdout', 'bye\n']]);
    expect(await all(containerLogs(t.engine, exited, { follow: true, pollMs: 10 }))).toEqual(['stdout bye\n']);
    const gone = { ...exited, record: { ...exited.record, id: `ff${exited.record.id.slice(2)}` } };
    expect(await all(containerLogs(t.engine, gone, { follow: true, pollMs: 10 }))).toEqual([]);
  });
});
