import { mkdtempSync, rmSync } from 'node:fs';
import { appendFile, rename, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { UsageError } from '../../common/errors.js';
import { formatEntry, type LogEntry, parseLogLine, parseTimeFilter, readLogs } from '../../runtime/logs.js';

let dir: string;
let log: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-logs-'));
  log = join(dir, 'container.log');
});

afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** The time of entry `i`: one second apart, with nanoseconds Date cannot hold. */
function timeOf(i: number): string {
  return `2026-11-22T04:${String(Math.floor(i / 60)).padStart(2, '0')}:${String(i % 60).padStart(2, '0')}.981441595Z`;
}

function nsOf(i: number): bigint {
  return (BigInt(Date.UTC(2026, 10, 22, 4, 0, 0)) / 1000n + BigInt(i)) * 1_000_000_000n + 981441595n;
}

/** One json-file line as berth-monitor writes it. */
function line(text: string, i: number, stream: 'stdout' | 'stderr' = 'stdout'): string {
  return `${JSON.stringify({ log: text, stream, time: timeOf(i) })}\n`;
}

/** Lines `text<i>\n` for i in [from, to). */
function lines(from: number, to: number): string {
  let out = '';
  for (let i = from; i < to; i++) out += line(`line ${i}\n`, i);
  return out;
}

async function collect(entries: AsyncIterable<LogEntry>): Promise<string[]> {
  const texts: string[] = [];
  for await (const entry of entries) texts.push(entry.text);
  return texts;
}

function texts(from: number, to: number): string[] {
  return Array.from({ length: to - from }, (_, k) => `line ${from + k}\n`);
}

describe('parseLogLine', () => {
  it('reads an entry and its time to the nanosecond', () => {
    const entry = parseLogLine('{"log":"hello \\"you\\"\\n","stream":"stderr","time":"2026-11-22T04:16:04.981441595Z"}');
    expect(entry).toEqual({
      stream: 'stderr',
      time: '2026-11-22T04:16:04.981441595Z',
      timeNs: BigInt(Date.UTC(2026, 10, 22, 4, 16, 4)) * 1_000_000n + 981441595n,
      text: 'hello "you"\n',
    });
  });

  it('reads zone offsets and short fractions', () => {
    expect(parseLogLine('{"log":"x","stream":"stdout","time":"2026-11-22T05:16:04.5+01:00"}')?.timeNs)
      .toBe(BigInt(Date.UTC(2026, 10, 22, 4, 16, 4)) * 1_000_000n + 500_000_000n);
    expect(parseLogLine('{"log":"x","stream":"stdout","time":"0001-01-01T00:00:00Z"}')?.timeNs)
      .toBe(-62135596800n * 1_000_000_000n);
  });

  it.each([
    '',
    'not json',
    '{"log":"partial\\n","stream":"stdout","ti',
    'null',
    '[]',
    '{"log":1,"stream":"stdout","time":"2026-11-22T04:16:04Z"}',
    '{"log":"x","stream":"stdin","time":"2026-11-22T04:16:04Z"}',
    '{"log":"x","stream":"stdout"}',
    '{"log":"x","stream":"stdout","time":"yesterday"}',
    '{"log":"x","stream":"stdout","time":"2026-11-22T04:16:04"}',
    '{"log":"x","stream":"stdout","time":"2026-02-30T04:16:04Z"}',
    '{"log":"x","stream":"stdout","time":"2026-11-22T24:00:00Z"}',
  ])('gives undefined for %j', (text) => {
    expect(parseLogLine(text)).toBeUndefined();
  });
});

describe('formatEntry', () => {
  const entry = parseLogLine('{"log":"hello\\n","stream":"stdout","time":"2026-11-22T05:16:04.5+01:00"}');

  it('prints the text as is, or after the time in RFC 3339 with nine digits', () => {
    expect(entry).toBeDefined();
    if (entry === undefined) return;
    expect(formatEntry(entry, { timestamps: false })).toBe('hello\n');
    expect(formatEntry(entry, { timestamps: true })).toBe('2026-11-22T04:16:04.500000000Z hello\n');
    const exact = parseLogLine(line('hi\n', 0));
    expect(exact && formatEntry(exact, { timestamps: true })).toBe(`${timeOf(0)} hi\n`);
  });
});

describe('parseTimeFilter', () => {
  const now = new Date('2026-11-22T12:00:00.250Z');
  const nowNs = BigInt(now.getTime()) * 1_000_000n;
  const second = 1_000_000_000n;
  const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): bigint =>
    BigInt(Date.UTC(y, mo - 1, d, h, mi, s)) * 1_000_000n;
  const local = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0): bigint =>
    BigInt(new Date(y, mo - 1, d, h, mi, s).getTime()) * 1_000_000n;

  it.each([
    ['2026-11-22T04:16:04.981441595Z', utc(2026, 11, 22, 4, 16, 4) + 981441595n],
    ['2026-11-22T04:16:04Z', utc(2026, 11, 22, 4, 16, 4)],
    ['2026-11-22T06:16:04.5+02:00', utc(2026, 11, 22, 4, 16, 4) + 500_000_000n],
    ['2026-11-21T23:16:04-05:00', utc(2026, 11, 22, 4, 16, 4)],
    ['2026-11-22T04:16Z', utc(2026, 11, 22, 4, 16)],
    ['2026-11-22Z', utc(2026, 11, 22)],
    ['2024-02-29T00:00:00Z', utc(2024, 2, 29)],
  ])('reads the timestamp %s', (value, expected) => {
    expect(parseTimeFilter(value, now)).toBe(expected);
  });

  it.each([
    ['2026-11-22T04:16:04', local(2026, 11, 22, 4, 16, 4)],
    ['2026-11-22T04:16:04.000000001', local(2026, 11, 22, 4, 16, 4) + 1n],
    ['2026-11-22T04:16', local(2026, 11, 22, 4, 16)],
    ['2026-11-22T04', local(2026, 11, 22, 4)],
    ['2026-11-22', local(2026, 11, 22)],
    ['2026-07-01T12:00:00', local(2026, 7, 1, 12)],
  ])('reads %s without a zone as local time', (value, expected) => {
    expect(parseTimeFilter(value, now)).toBe(expected);
  });

  it.each([
    ['1700000000', 1700000000n * second],
    ['1700000000.123456789', 1700000000n * second + 123456789n],
    ['1700000000.5', 1700000000n * second + 500_000_000n],
    ['0', 0n],
  ])('reads the Unix timestamp %s', (value, expected) => {
    expect(parseTimeFilter(value, now)).toBe(expected);
  });

  it.each([
    ['42s', 42n * second],
    ['10m', 600n * second],
    ['1h30m', 5400n * second],
    ['1.5h', 5400n * second],
    ['.5s', 500_000_000n],
    ['1m0.5s', 60n * second + 500_000_000n],
    ['250ms', 250_000_000n],
    ['3us', 3000n],
    ['3µs', 3000n],
    ['3μs', 3000n],
    ['7ns', 7n],
    ['0s', 0n],
    ['+2h', 7200n * second],
    ['-5m', -300n * second],
  ])('reads the duration %s as that long before now', (value, ago) => {
    expect(parseTimeFilter(value, now)).toBe(nowNs - ago);
  });

  it.each([
    '',
    'yesterday',
    '10',
  ])('accepts only what docker accepts: %j', (value) => {
    // "10" is a Unix timestamp for docker, not a duration.
    if (value === '10') expect(parseTimeFilter(value, now)).toBe(10n * second);
    else expect(() => parseTimeFilter(value, now)).toThrowError(UsageError);
  });

  it.each([
    'yesterday', '10x', '1d', 'h', '.s', '1.2.3', '-1700000000', '1700000000.1234567891', '2026-13-01', '2026-02-29',
    '2026-11-22T25:00:00Z', '2026-11-22T04:60Z', '2026-11-22T04:16:60Z', '2026-11-22T04:16:04+24:00', '2026-11-22 04:16:04',
    '2026-11-22T04:16:04.Z', '9999999999999h',
  ])('refuses %j with a usage error that names it and the accepted forms', (value) => {
    let error: unknown;
    try {
      parseTimeFilter(value, now);
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(UsageError);
    const usage = error as UsageError;
    expect(usage.exitCode).toBe(2);
    expect(usage.message).toBe(
      `Invalid time "${value}": it is not an RFC 3339 timestamp, a Unix timestamp or a duration before now`,
    );
    expect(usage.hint).toContain('"2026-11-22T04:16:04Z"');
    expect(usage.hint).toContain('"10m"');
  });
});

describe('readLogs', () => {
  /** `container.log.3` (oldest) ... `container.log`, ten lines each. */
  async function writeRotated(files = 3): Promise<void> {
    for (let k = files; k >= 1; k--) await writeFile(`${log}.${k}`, lines((files - k) * 10, (files - k + 1) * 10));
    await writeFile(log, lines(files * 10, files * 10 + 10));
  }

  it('reads rotated files oldest first, then the current one', async () => {
    await writeRotated();
    await writeFile(`${log}.x`, lines(100, 101)); // not a rotated file
    expect(await collect(readLogs(log))).toEqual(texts(0, 40));
  });

  it('has no entries when there is no log yet', async () => {
    expect(await collect(readLogs(log))).toEqual([]);
    expect(await collect(readLogs(join(dir, 'gone', 'container.log'), { tail: 5 }))).toEqual([]);
  });

  it('skips malformed lines and a line still being written', async () => {
    await writeFile(log, `${lines(0, 2)}garbage\n\n${lines(2, 3)}{"log":"half`);
    expect(await collect(readLogs(log))).toEqual(texts(0, 3));
    expect(await collect(readLogs(log, { tail: 2 }))).toEqual(texts(1, 3));
  });

  it('skips a corrupt line too long to be an entry, reading forward and back', async () => {
    await writeFile(log, `${lines(0, 2)}${'z'.repeat(1_200_000)}\n${lines(2, 4)}`);
    expect(await collect(readLogs(log))).toEqual(texts(0, 4));
    expect(await collect(readLogs(log, { tail: 3 }))).toEqual(texts(1, 4));
  });

  it('tails the last lines across rotated files', async () => {
    await writeRotated();
    expect(await collect(readLogs(log, { tail: 3 }))).toEqual(texts(37, 40));
    expect(await collect(readLogs(log, { tail: 15 }))).toEqual(texts(25, 40));
    expect(await collect(readLogs(log, { tail: 35 }))).toEqual(texts(5, 40));
    expect(await collect(readLogs(log, { tail: 1000 }))).toEqual(texts(0, 40));
    expect(await collect(readLogs(log, { tail: 0 }))).toEqual([]);
  });

  it('tails a file larger than its read blocks', async () => {
    const padding = 'x'.repeat(1000);
    let text = '';
    for (let i = 0; i < 300; i++) text += line(`${i} ${padding}\n`, i);
    await writeFile(log, text);
    const tail = await collect(readLogs(log, { tail: 130 }));
    expect(tail).toHaveLength(130);
    expect(tail[0]).toBe(`170 ${padding}\n`);
    expect(tail[129]).toBe(`299 ${padding}\n`);
  });

  it('refuses a negative tail', async () => {
    await expect(collect(readLogs(log, { tail: -1 }))).rejects.toThrowError('Cannot read log');
  });

  it('keeps entries in [since, until]', async () => {
    await writeRotated(2);
    expect(await collect(readLogs(log, { since: nsOf(8), until: nsOf(12) }))).toEqual(texts(8, 13));
    expect(await collect(readLogs(log, { since: nsOf(25) }))).toEqual(texts(25, 30));
    expect(await collect(readLogs(log, { since: nsOf(30) }))).toEqual([]);
    expect(await collect(readLogs(log, { until: nsOf(0) - 1n }))).toEqual([]);
    expect(await collect(readLogs(log, { since: nsOf(15) + 1n }))).toEqual(texts(16, 30));
  });

  it('tails within [since, until]', async () => {
    await writeRotated(2);
    expect(await collect(readLogs(log, { tail: 3, until: nsOf(12) }))).toEqual(texts(10, 13));
    expect(await collect(readLogs(log, { tail: 10, since: nsOf(25) }))).toEqual(texts(25, 30));
  });

  describe('lines over 16 KiB', () => {
    const long = 'a'.repeat(16 * 1024) + 'b'.repeat(16 * 1024) + 'c'.repeat(100);

    /** A long stdout line split as log.c splits it, with stderr output between its parts. */
    async function writeSplit(): Promise<void> {
      await writeFile(log, [
        line('before\n', 0),
        line(long.slice(0, 16384), 1),
        line('err\n', 2, 'stderr'),
        line(long.slice(16384, 32768), 3),
        line(long.slice(32768) + '\n', 4),
        line('after\n', 5),
        line('no newline at exit', 6, 'stderr'),
      ].join(''));
    }

    it('are read as their parts, which put together give the line', async () => {
      await writeSplit();
      const entries: LogEntry[] = [];
      for await (const entry of readLogs(log)) entries.push(entry);
      expect(entries.map((e) => e.text.length)).toEqual([7, 16384, 4, 16384, 101, 6, 18]);
      const stdout = entries.filter((e) => e.stream === 'stdout').map((e) => formatEntry(e, { timestamps: false }));
      expect(stdout.join('')).toBe(`before\n${long}\nafter\n`);
    });

    it('count once for tail, which takes them whole', async () => {
      await writeSplit();
      expect(await collect(readLogs(log, { tail: 1 }))).toEqual(['no newline at exit']);
      expect(await collect(readLogs(log, { tail: 2 }))).toEqual(['after\n', 'no newline at exit']);
      const three = await collect(readLogs(log, { tail: 3 }));
      expect(three.join('')).toBe(`${long}\nafter\nno newline at exit`);
      const four = await collect(readLogs(log, { tail: 4 }));
      expect(four.map((t) => t.length)).toEqual([16384, 4, 16384, 101, 6, 18]);
      expect(await collect(readLogs(log, { tail: 5 }))).toHaveLength(7);
    });
  });
});

describe('readLogs with follow', () => {
  const fast = { follow: true, pollMs: 10 } as const;

  it('yields lines as they are appended, and ends once the container stopped and the file is drained', async () => {
    await writeFile(log, lines(0, 2));
    let running = true;
    const it = readLogs(log, { ...fast, isRunning: async () => running });
    expect((await it.next()).value?.text).toBe('line 0\n');
    expect((await it.next()).value?.text).toBe('line 1\n');
    const next = it.next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await appendFile(log, lines(2, 3));
    expect((await next).value?.text).toBe('line 2\n');
    // Output written just before the exit is still read.
    await appendFile(log, lines(3, 5));
    running = false;
    expect(await collect({ [Symbol.asyncIterator]: () => it })).toEqual(texts(3, 5));
  });

  it('reads a line written in two pieces once it is complete', async () => {
    await writeFile(log, lines(0, 1));
    const whole = line('line 1\n', 1);
    let running = true;
    const it = readLogs(log, { ...fast, isRunning: async () => running });
    expect((await it.next()).value?.text).toBe('line 0\n');
    await appendFile(log, whole.slice(0, 20));
    const next = it.next();
    await new Promise((resolve) => setTimeout(resolve, 50));
    await appendFile(log, whole.slice(20));
    expect((await next).value?.text).toBe('line 1\n');
    running = false;
    expect((await it.next()).done).toBe(true);
  });

  it('follows the log across rotations, reading the old file to its end first', async () => {
    await writeFile(`${log}.1`, lines(0, 2));
    await writeFile(log, lines(2, 4));
    let running = true;
    const it = readLogs(log, { ...fast, isRunning: async () => running });
    const seen: string[] = [];
    for (let i = 0; i < 4; i++) seen.push((await it.next()).value?.text ?? '');
    // Written to the old file after the follower's last read, then rotated as log.c does.
    await appendFile(log, lines(4, 6));
    await rename(`${log}.1`, `${log}.2`);
    await rename(log, `${log}.1`);
    await writeFile(log, lines(6, 8));
    for (let i = 0; i < 4; i++) seen.push((await it.next()).value?.text ?? '');
    // Rotated while the follower waits, the name missing for a while in between.
    const next = it.next();
    await new Promise((resolve) => setTimeout(resolve, 30));
    await rename(`${log}.1`, `${log}.2`);
    await rename(log, `${log}.1`);
    await new Promise((resolve) => setTimeout(resolve, 40));
    await writeFile(log, lines(8, 9));
    seen.push((await next).value?.text ?? '');
    running = false;
    seen.push(...(await collect({ [Symbol.asyncIterator]: () => it })));
    expect(seen).toEqual(texts(0, 9));
  });

  it('follows after a tail, from the end of what it tailed', async () => {
    await writeFile(`${log}.1`, lines(0, 5));
    await writeFile(log, lines(5, 7));
    let running = true;
    const it = readLogs(log, { ...fast, tail: 3, isRunning: async () => running });
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) seen.push((await it.next()).value?.text ?? '');
    await appendFile(log, lines(7, 8));
    seen.push((await it.next()).value?.text ?? '');
    running = false;
    seen.push(...(await collect({ [Symbol.asyncIterator]: () => it })));
    expect(seen).toEqual(texts(4, 8));
  });

  it('starts again at the top of a file truncated in place (max-file 1)', async () => {
    await writeFile(log, lines(0, 3));
    let running = true;
    const it = readLogs(log, { ...fast, isRunning: async () => running });
    for (let i = 0; i < 3; i++) await it.next();
    await truncate(log, 0);
    await new Promise((resolve) => setTimeout(resolve, 40));
    await appendFile(log, lines(3, 4));
    expect((await it.next()).value?.text).toBe('line 3\n');
    running = false;
    expect((await it.next()).done).toBe(true);
  });

  it('waits for a log that does not exist yet', async () => {
    let running = true;
    const it = readLogs(log, { ...fast, isRunning: async () => running });
    const next = it.next();
    await new Promise((resolve) => setTimeout(resolve, 40));
    await writeFile(log, lines(0, 1));
    expect((await next).value?.text).toBe('line 0\n');
    running = false;
    expect((await it.next()).done).toBe(true);
  });

  it('ends when the log is deleted with its container', async () => {
    await writeFile(log, lines(0, 1));
    const it = readLogs(log, { ...fast, isRunning: async () => true });
    expect((await it.next()).value?.text).toBe('line 0\n');
    const next = it.next();
    await rm(dir, { recursive: true, force: true });
    expect((await next).done).toBe(true);
  });

  it('ends when the signal aborts, without an error', async () => {
    await writeFile(log, lines(0, 1));
    const controller = new AbortController();
    const it = readLogs(log, { ...fast, pollMs: 60_000, signal: controller.signal });
    expect((await it.next()).value?.text).toBe('line 0\n');
    const next = it.next();
    setTimeout(() => controller.abort(), 20);
    expect((await next).done).toBe(true);
  });

  it('ends at the first entry after until', async () => {
    await writeFile(log, lines(0, 2));
    const it = readLogs(log, { ...fast, until: nsOf(2), isRunning: async () => true });
    const next = collect({ [Symbol.asyncIterator]: () => it });
    await new Promise((resolve) => setTimeout(resolve, 40));
    await appendFile(log, lines(2, 5));
    expect(await next).toEqual(texts(0, 3));
  });

  it('wakes on appends well before a long poll interval', async () => {
    await writeFile(log, lines(0, 1));
    let running = true;
    const it = readLogs(log, { follow: true, pollMs: 60_000, isRunning: async () => running });
    await it.next();
    const next = it.next();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await appendFile(log, lines(1, 2));
    expect((await next).value?.text).toBe('line 1\n');
    running = false;
    await it.return(undefined);
  });
});
