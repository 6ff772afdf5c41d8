/**
 * Container logs as berth-monitor writes them (runtime/native/log.c): docker's json-file
 * format, one JSON object per line, `{"log":"text\n","stream":"stdout","time":"<RFC 3339>"}`,
 * a line longer than 16 KiB split into entries whose text lacks the "\n" except the last,
 * and docker's rotation: `<log>` is newest, then `<log>.1`, ..., the highest number oldest.
 * This is what `berth logs` and the API's logs endpoint read: `--tail`, `--since`,
 * `--until`, `--follow` and `--timestamps`.
 */
import { watch, type BigIntStats, type FSWatcher } from 'node:fs';
import { open, readdir, stat, type FileHandle } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import {
  BerthError, FailedPreconditionError, InvalidArgumentError, isErrnoError, RequiresRootError, UsageError,
} from '../common/errors.js';

/** One entry of a json-file log: a line of output, or a 16 KiB part of a longer one. */
export interface LogEntry {
  readonly stream: 'stdout' | 'stderr';
  /** The timestamp as written in the file (RFC 3339, normally UTC with nanoseconds). */
  readonly time: string;
  /** `time` in nanoseconds since the Unix epoch, exact. */
  readonly timeNs: bigint;
  /** The output as is: ends with "\n" unless it is part of a longer line or the last output before exit. */
  readonly text: string;
}

/** Options of {@link readLogs}. */
export interface ReadLogsOptions {
  /** Only the last N lines of those in [since, until] (a line split into 16 KiB entries counts once); 0 gives none. */
  readonly tail?: number | undefined;
  /** Only entries at or after this time (ns since the epoch, see {@link parseTimeFilter}). */
  readonly since?: bigint | undefined;
  /** Only entries at or before this time; reading stops at the first later entry. */
  readonly until?: bigint | undefined;
  /** Keep reading what is appended, across rotations, until the container stops. */
  readonly follow?: boolean | undefined;
  /** Ends a follow: the generator returns, it does not throw. A read without follow ignores it. */
  readonly signal?: AbortSignal | undefined;
  /** Polled while following; once false, the log is read to its end and the generator returns. */
  readonly isRunning?: (() => Promise<boolean>) | undefined;
  /** How often a follow looks for new output even without a file-system event; 100 ms by default. */
  readonly pollMs?: number | undefined;
}

const nsPerSecond = 1_000_000_000n;
const blockSize = 64 * 1024;
/** A JSON line is at most 16 KiB of output, 6 bytes a byte escaped; longer lines are corrupt and skipped. */
const maxLineBytes = 1024 * 1024;
const newline = 0x0a;
const empty = Buffer.alloc(0);

/** The entry on one line of a json-file log (without its "\n"); undefined for a malformed or partial line. */
export function parseLogLine(line: string): LogEntry | undefined {
  let data: unknown;
  try {
    data = JSON.parse(line);
  } catch {
    // A torn or corrupt line is skipped, as docker's json-file reader does.
    return undefined;
  }
  if (typeof data !== 'object' || data === null) return undefined;
  const { log, stream, time } = data as Record<string, unknown>;
  if (typeof log !== 'string' || typeof time !== 'string' || (stream !== 'stdout' && stream !== 'stderr')) return undefined;
  const timeNs = parseTimestamp(time, true);
  return timeNs === undefined ? undefined : { stream, time, timeNs, text: log };
}

/** What `docker logs` prints for `entry`: its text, after its time and a space with `timestamps`. */
export function formatEntry(entry: LogEntry, opts: { timestamps: boolean }): string {
  return opts.timestamps ? `${formatTimeNs(entry.timeNs)} ${entry.text}` : entry.text;
}

/**
 * The time a `--since` or `--until` value names, in ns since the epoch, as docker reads it
 * (moby api/types/time GetTimestamp): a Go duration before `now` (`10m`, `1h30m`, `1.5h`),
 * an RFC 3339 timestamp, possibly shortened to `2026-11-22T04:16` or `2026-11-22` and
 * local time without a zone, or a Unix timestamp (`1700000000.123456789`).
 * @throws UsageError for anything else.
 */
export function parseTimeFilter(value: string, now: Date): bigint {
  // Docker reads "0" as the Unix epoch, not as a zero duration.
  const duration = value === '0' ? undefined : parseDuration(value);
  if (duration !== undefined) return BigInt(now.getTime()) * 1_000_000n - duration;
  const time = parseTimestamp(value, false) ?? parseUnixTime(value);
  if (time !== undefined) return time;
  throw new UsageError(
    `Invalid time "${value}": it is not an RFC 3339 timestamp, a Unix timestamp or a duration before now`,
    {
      hint: 'Give a timestamp such as "2026-11-22T04:16:04Z" or "2026-11-22" (local time without a zone), ' +
        'a Unix timestamp such as "1700000000.5", or a duration such as "42s", "10m" or "1h30m"',
    },
  );
}

/**
 * The entries of the log at `path`, oldest first: the rotated files (`path.N` ... `path.1`)
 * then `path`, filtered by `since`/`until`, the last `tail` lines of them, then with
 * `follow` what is appended until the container stops (see {@link ReadLogsOptions}), the
 * signal aborts, or the log is deleted. A log that does not exist yet has no entries.
 * Files are read in blocks; `tail` reads from the end and keeps only the lines it returns.
 * @throws InvalidArgumentError for a bad `tail` or `pollMs`; a BerthError when a file cannot be read.
 */
export async function* readLogs(path: string, opts: ReadLogsOptions = {}): AsyncGenerator<LogEntry> {
  const { tail, pollMs = 100 } = opts;
  if (tail !== undefined && !(Number.isSafeInteger(tail) && tail >= 0)) {
    throw new InvalidArgumentError(`Cannot read log "${path}": cannot tail ${tail} lines, only 0 or more`);
  }
  if (!(pollMs > 0 && Number.isFinite(pollMs))) {
    throw new InvalidArgumentError(`Cannot read log "${path}": the poll interval, ${pollMs} ms, is not a positive number`);
  }
  const opened: LogFile[] = [];
  // Watch before the first read, so that nothing appended after it goes unnoticed.
  const waker = opts.follow === true ? new Waker(dirname(path), pollMs, opts.signal) : undefined;
  try {
    const current = await LogFile.open(path);
    if (current !== undefined) opened.push(current);
    const rotated = await openRotated(path, current, opened);
    let done: boolean;
    if (tail === undefined) {
      done = yield* readForward(rotated.reverse(), opts);
      if (!done && waker === undefined && current !== undefined) yield* windowed(current.lines(), opts);
    } else {
      done = yield* readTail(current, rotated, tail, opts);
    }
    if (!done && waker !== undefined) yield* follow(path, current, waker, opts);
  } catch (err) {
    throw err instanceof BerthError ? err : readError(path, err);
  } finally {
    waker?.close();
    await Promise.all(opened.map((file) => file.close()));
  }
}

/** Reads whole rotated files, oldest first; returns true once an entry after `until` ends the read. */
async function* readForward(oldestFirst: LogFile[], window: TimeWindow): AsyncGenerator<LogEntry, boolean> {
  for (const file of oldestFirst) {
    const done = yield* windowed(file.lines(), window);
    await file.close();
    if (done) return true;
  }
  return false;
}

/** Yields the tail, leaving `current` positioned after it for a follow; returns true when `until` was passed. */
async function* readTail(
  current: LogFile | undefined,
  rotatedNewestFirst: LogFile[],
  tail: number,
  window: TimeWindow,
): AsyncGenerator<LogEntry, boolean> {
  // The bytes after the last "\n" of the current file are a line still being written.
  const end = current === undefined ? 0 : await current.completeLength();
  current?.seek(end);
  const sources: [LogFile, number | undefined][] = rotatedNewestFirst.map((file) => [file, undefined]);
  if (current !== undefined) sources.unshift([current, end]);
  const selector = new TailSelector(tail);
  let passedUntil = false;
  scan: for (const [file, fileEnd] of sources) {
    if (selector.isDone) break;
    for await (const line of file.linesBackward(fileEnd ?? (await file.size()))) {
      const entry = parseLogLine(line);
      if (entry === undefined) continue;
      if (window.until !== undefined && entry.timeNs > window.until) {
        passedUntil = true;
        continue;
      }
      // Entries are in time order, so everything further back is older still.
      if (window.since !== undefined && entry.timeNs < window.since) break scan;
      if (!selector.push(entry)) break scan;
    }
  }
  for (const file of rotatedNewestFirst) await file.close();
  yield* selector.entries();
  return passedUntil;
}

/** Since and until, in ns since the epoch. */
interface TimeWindow {
  readonly since?: bigint | undefined;
  readonly until?: bigint | undefined;
}

/** Yields the entries of `lines` in the window; returns true at the first entry after `until`. */
async function* windowed(lines: AsyncIterable<string>, window: TimeWindow): AsyncGenerator<LogEntry, boolean> {
  for await (const line of lines) {
    const entry = parseLogLine(line);
    if (entry === undefined) continue;
    // Like docker's json-file reader: entries are in time order, nothing after this one matches.
    if (window.until !== undefined && entry.timeNs > window.until) return true;
    if (window.since === undefined || entry.timeNs >= window.since) yield entry;
  }
  return false;
}

/**
 * Follows `path` from `start`: reads to the end, then looks at the name. A new file there
 * (rotated: another inode) means the old one is read to its end once more, since the
 * monitor may have written to it after our last read, and the new one is read from its
 * start; a shorter file (rotated with max-file 1: truncated in place) is read again from
 * its start; the name missing while the open file still has a link is a rotation under way.
 */
async function* follow(
  path: string,
  start: LogFile | undefined,
  waker: Waker,
  opts: ReadLogsOptions,
): AsyncGenerator<LogEntry> {
  let file = start;
  let finishing = false;
  try {
    while (opts.signal?.aborted !== true) {
      if (file !== undefined && (yield* windowed(file.lines(), opts))) return;
      const change = file === undefined ? await appeared(path) : await file.check(path);
      if (change === 'grown') continue;
      if (change === 'truncated') {
        file?.seek(0);
      } else if (change === 'replaced' || change === 'deleted' || change === 'created') {
        if (file !== undefined && (yield* windowed(file.lines(), opts))) return;
        if (change === 'deleted') return;
        await file?.close();
        file = await LogFile.open(path);
      } else if (finishing) {
        return;
      } else if (opts.isRunning !== undefined && !(await opts.isRunning())) {
        // Asked before one last read, so that output written just before the exit is not lost.
        finishing = true;
      } else {
        await waker.wait();
      }
    }
  } finally {
    // The caller closes `start` too; closing twice is harmless.
    await file?.close();
  }
}

/** What became of the log's name since the open file was last read. */
type Change = 'same' | 'grown' | 'truncated' | 'replaced' | 'missing' | 'deleted' | 'created';

/** For a follow that has no file yet: whether `path` exists now, or its directory is gone. */
async function appeared(path: string): Promise<Change> {
  try {
    await stat(path);
    return 'created';
  } catch (err) {
    if (!isErrnoError(err, 'ENOENT')) throw err;
  }
  try {
    await stat(dirname(path));
    return 'missing';
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return 'deleted';
    throw err;
  }
}

/** Opens `path.1`, `path.2`, ..., newest first, skipping files already open (a rotation while opening). */
async function openRotated(path: string, current: LogFile | undefined, opened: LogFile[]): Promise<LogFile[]> {
  let names: string[];
  try {
    names = await readdir(dirname(path));
  } catch (err) {
    if (isErrnoError(err, 'ENOENT')) return [];
    throw err;
  }
  const prefix = `${basename(path)}.`;
  const numbers = names
    .filter((name) => name.startsWith(prefix) && /^[1-9]\d*$/.test(name.slice(prefix.length)))
    .map((name) => Number(name.slice(prefix.length)))
    .sort((a, b) => a - b);
  const seen = new Set(current === undefined ? [] : [current.id]);
  const files: LogFile[] = [];
  for (const n of numbers) {
    const file = await LogFile.open(`${path}.${n}`);
    if (file === undefined) continue;
    opened.push(file);
    if (seen.has(file.id)) continue;
    seen.add(file.id);
    files.push(file);
  }
  return files;
}

/** A log file open for reading; `position` is always at the start of a line. */
class LogFile {
  /** Device and inode: what a rotation changes behind the name. */
  readonly id: string;
  readonly #handle: FileHandle;
  #position = 0;
  /** Bytes read after the last "\n": a line still being written. */
  #pending: Buffer = empty;
  /** Skipping the rest of a line longer than {@link maxLineBytes}. */
  #overlong = false;
  #closed = false;

  private constructor(handle: FileHandle, stats: BigIntStats) {
    this.#handle = handle;
    this.id = `${stats.dev}:${stats.ino}`;
  }

  /** Opens `path` for reading; undefined when it does not exist. */
  static async open(path: string): Promise<LogFile | undefined> {
    let handle: FileHandle;
    try {
      handle = await open(path, 'r');
    } catch (err) {
      if (isErrnoError(err, 'ENOENT')) return undefined;
      throw err;
    }
    try {
      return new LogFile(handle, await handle.stat({ bigint: true }));
    } catch (err) {
      await handle.close();
      throw err;
    }
  }

  /** Reads from `offset` next, which must be the start of a line. */
  seek(offset: number): void {
    this.#position = offset;
    this.#pending = empty;
    this.#overlong = false;
  }

  async size(): Promise<number> {
    return Number((await this.#handle.stat()).size);
  }

  /** The complete lines from the position to the end of the file as it grows. */
  async *lines(): AsyncGenerator<string> {
    const block = Buffer.allocUnsafe(blockSize);
    for (;;) {
      const { bytesRead } = await this.#handle.read(block, 0, blockSize, this.#position);
      if (bytesRead === 0) return;
      this.#position += bytesRead;
      yield* this.#split(block.subarray(0, bytesRead));
    }
  }

  *#split(chunk: Buffer): Generator<string> {
    let start = 0;
    for (let nl = chunk.indexOf(newline); nl >= 0; nl = chunk.indexOf(newline, start)) {
      const piece = chunk.subarray(start, nl);
      start = nl + 1;
      if (this.#overlong) this.#overlong = false;
      else yield this.#pending.length === 0 ? piece.toString() : Buffer.concat([this.#pending, piece]).toString();
      this.#pending = empty;
    }
    if (this.#overlong) return;
    const rest = chunk.subarray(start);
    this.#overlong = this.#pending.length + rest.length > maxLineBytes;
    // A copy: the caller reuses `chunk`.
    this.#pending = this.#overlong ? empty : Buffer.concat([this.#pending, rest]);
  }

  /** The lines of the first `end` bytes, last first, reading blocks from the end. */
  async *linesBackward(end: number): AsyncGenerator<string> {
    let position = end;
    let carry: Buffer = empty; // the end of a line that starts in an earlier block
    let overlong = false;
    while (position > 0) {
      const size = Math.min(blockSize, position);
      position -= size;
      const block = Buffer.allocUnsafe(size);
      const { bytesRead } = await this.#handle.read(block, 0, size, position);
      const buf = carry.length === 0 ? block.subarray(0, bytesRead) : Buffer.concat([block.subarray(0, bytesRead), carry]);
      let lineEnd = buf.length;
      const previousNewline = (): number => (lineEnd === 0 ? -1 : buf.lastIndexOf(newline, lineEnd - 1));
      for (let nl = previousNewline(); nl >= 0; nl = previousNewline()) {
        if (!overlong && lineEnd > nl + 1) yield buf.subarray(nl + 1, lineEnd).toString();
        overlong = false;
        lineEnd = nl;
      }
      carry = buf.subarray(0, lineEnd);
      if (carry.length > maxLineBytes) {
        carry = empty;
        overlong = true;
      }
    }
    if (!overlong && carry.length > 0) yield carry.toString();
  }

  /** The length of the file up to its last "\n". */
  async completeLength(): Promise<number> {
    const block = Buffer.allocUnsafe(blockSize);
    for (let end = await this.size(); end > 0; ) {
      const start = Math.max(0, end - blockSize);
      const { bytesRead } = await this.#handle.read(block, 0, end - start, start);
      const nl = block.subarray(0, bytesRead).lastIndexOf(newline);
      if (nl >= 0) return start + nl + 1;
      end = start;
    }
    return 0;
  }

  /** What became of `path` (this file's name when opened) since the last read reached the end. */
  async check(path: string): Promise<Change> {
    let stats: BigIntStats;
    try {
      stats = await stat(path, { bigint: true });
    } catch (err) {
      if (!isErrnoError(err, 'ENOENT')) throw err;
      // log.c rotate() renames the file before it creates the new one: no link left means removed.
      return (await this.#handle.stat()).nlink === 0 ? 'deleted' : 'missing';
    }
    if (`${stats.dev}:${stats.ino}` !== this.id) return 'replaced';
    const size = Number(stats.size);
    if (size < this.#position) return 'truncated';
    return size > this.#position ? 'grown' : 'same';
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#handle.close();
  }
}

/**
 * Picks the entries of the last `lines` lines from entries given newest first. A line is
 * the entries of one stream up to one whose text ends with "\n"; the newest entries of a
 * stream count as a line without it (still being written, or the last output before exit).
 * Lines are counted by their last entry, and a line is taken whole, earlier parts included.
 */
class TailSelector {
  readonly #lines: number;
  #counted = 0;
  /** Per stream seen: whether the line being collected (going back) is taken. */
  readonly #taking = new Map<string, boolean>();
  readonly #picked: LogEntry[] = [];

  constructor(lines: number) {
    this.#lines = lines;
  }

  /** True when no older entry can be taken. */
  get isDone(): boolean {
    return this.#counted >= this.#lines && ![...this.#taking.values()].includes(true);
  }

  /** Takes the next older entry if it belongs to a taken line; false once done. */
  push(entry: LogEntry): boolean {
    if (!this.#taking.has(entry.stream) || entry.text.endsWith('\n')) {
      const take = this.#counted < this.#lines;
      if (take) this.#counted++;
      this.#taking.set(entry.stream, take);
    }
    if (this.#taking.get(entry.stream) === true) this.#picked.push(entry);
    return !this.isDone;
  }

  /** The taken entries, oldest first. */
  entries(): LogEntry[] {
    return this.#picked.slice().reverse();
  }
}

/** Wakes a follow when the log's directory changes, after `pollMs` at the latest, or on abort. */
class Waker {
  readonly #pollMs: number;
  readonly #signal: AbortSignal | undefined;
  #watcher: FSWatcher | undefined;
  #changed = false;
  #wake: (() => void) | undefined;

  constructor(dir: string, pollMs: number, signal: AbortSignal | undefined) {
    this.#pollMs = pollMs;
    this.#signal = signal;
    try {
      // The directory, not the file: a rotation creates a new file under the same name.
      this.#watcher = watch(dir, { persistent: false }, () => this.#notify());
      this.#watcher.on('error', () => this.close());
    } catch {
      // fs.watch is only a shortcut (ENOENT, ENOSPC from inotify limits, some filesystems): polling still works.
      this.#watcher = undefined;
    }
  }

  #notify(): void {
    this.#changed = true;
    this.#wake?.();
  }

  /** Resolves on the next change (or one since the last wait), after `pollMs`, or on abort. */
  wait(): Promise<void> {
    if (this.#changed || this.#signal?.aborted === true) {
      this.#changed = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        this.#signal?.removeEventListener('abort', done);
        this.#wake = undefined;
        this.#changed = false;
        resolve();
      };
      const timer = setTimeout(done, this.#pollMs);
      this.#signal?.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }

  close(): void {
    this.#watcher?.close();
    this.#watcher = undefined;
  }
}

/** A failure to read the log as a BerthError. */
function readError(path: string, err: unknown): BerthError {
  if (isErrnoError(err, 'EACCES') || isErrnoError(err, 'EPERM')) {
    return new RequiresRootError(`Cannot read log "${path}": permission denied`, {
      hint: 'Run berth as root, or as the user that created the container',
      cause: err,
    });
  }
  const reason = err instanceof Error ? err.message.replace(/^[A-Z]+: /, '') : String(err);
  return new FailedPreconditionError(`Cannot read log "${path}": ${reason}`, { cause: err });
}

// Time: exact to the nanosecond, which Date is not.

const timestampPattern =
  /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2})(?::(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?)?(Z|[+-]\d{2}:\d{2})?$/;

/**
 * An RFC 3339 timestamp in ns since the epoch. `full` (log files) requires seconds and a
 * zone; otherwise (docker's filters) `2026-11-22`, `2026-11-22T04` and `2026-11-22T04:16`
 * are accepted, and a time without a zone is local. Digits past nanoseconds are dropped, as Go does.
 */
function parseTimestamp(value: string, full: boolean): bigint | undefined {
  const m = timestampPattern.exec(value);
  if (m === null) return undefined;
  const [, year, month, day, hour = '0', minute = '0', second, fraction = '', zone] = m;
  if (full && (second === undefined || zone === undefined)) return undefined;
  const y = Number(year);
  const mo = Number(month);
  const d = Number(day);
  const h = Number(hour);
  const mi = Number(minute);
  const s = Number(second ?? '0');
  const valid = inRange(mo, 1, 12) && inRange(d, 1, daysInMonth(y, mo)) && inRange(h, 0, 23) && inRange(mi, 0, 59) && inRange(s, 0, 59);
  if (!valid) return undefined;
  const date = new Date(0);
  // setFullYear, not the Date constructor, which reads years 0-99 as 1900-1999.
  if (zone === undefined) {
    date.setFullYear(y, mo - 1, d);
    date.setHours(h, mi, s, 0);
  } else {
    date.setUTCFullYear(y, mo - 1, d);
    date.setUTCHours(h, mi, s, 0);
  }
  const offset = zone === undefined ? 0 : zoneOffsetSeconds(zone);
  if (offset === undefined) return undefined;
  const nanos = BigInt(fraction.slice(0, 9).padEnd(9, '0'));
  return (BigInt(date.getTime() / 1000) - BigInt(offset)) * nsPerSecond + nanos;
}

function zoneOffsetSeconds(zone: string): number | undefined {
  if (zone === 'Z') return 0;
  const hours = Number(zone.slice(1, 3));
  const minutes = Number(zone.slice(4, 6));
  if (!(inRange(hours, 0, 23) && inRange(minutes, 0, 59))) return undefined;
  return (zone.startsWith('-') ? -1 : 1) * (hours * 3600 + minutes * 60);
}

function inRange(n: number, min: number, max: number): boolean {
  return n >= min && n <= max;
}

function daysInMonth(year: number, month: number): number {
  if (month === 2) return year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0) ? 29 : 28;
  return [4, 6, 9, 11].includes(month) ? 30 : 31;
}

/** `1700000000` or `1700000000.123456789` in ns. */
function parseUnixTime(value: string): bigint | undefined {
  const m = /^(\d+)(?:\.(\d{1,9}))?$/.exec(value);
  if (m === null) return undefined;
  return BigInt(m[1] ?? '0') * nsPerSecond + BigInt((m[2] ?? '').padEnd(9, '0'));
}

const durationUnits: Readonly<Record<string, bigint>> = {
  ns: 1n,
  us: 1_000n,
  'µs': 1_000n, // U+00B5 micro sign
  'μs': 1_000n, // U+03BC Greek mu
  ms: 1_000_000n,
  s: nsPerSecond,
  m: 60n * nsPerSecond,
  h: 3600n * nsPerSecond,
};
const unit = '(?:ns|us|µs|μs|ms|s|m|h)';
const durationPattern = new RegExp(`^[-+]?(?:(?:\\d+\\.?\\d*|\\.\\d+)${unit})+$`);
const durationPart = new RegExp(`(\\d*)(?:\\.(\\d*))?(${unit})`, 'g');
const maxDuration = (1n << 63n) - 1n;

/** A Go duration (time.ParseDuration: `1h30m`, `1.5h`, `-2s`) in ns; undefined when it is not one. */
function parseDuration(value: string): bigint | undefined {
  if (!durationPattern.test(value)) return undefined;
  let total = 0n;
  for (const [, whole = '', fraction = '', name = ''] of value.matchAll(durationPart)) {
    const scale = durationUnits[name] ?? 0n;
    total += BigInt(whole || '0') * scale;
    if (fraction !== '') total += (BigInt(fraction) * scale) / 10n ** BigInt(fraction.length);
  }
  if (total > maxDuration) return undefined; // Go: "invalid duration"
  return value.startsWith('-') ? -total : total;
}

/** RFC 3339 in UTC with exactly nine fractional digits, as docker prints with `-t`. */
function formatTimeNs(ns: bigint): string {
  let seconds = ns / nsPerSecond;
  let nanos = ns % nsPerSecond;
  if (nanos < 0n) {
    nanos += nsPerSecond;
    seconds -= 1n;
  }
  const iso = new Date(Number(seconds) * 1000).toISOString();
  return `${iso.slice(0, 19)}.${nanos.toString().padStart(9, '0')}Z`;
}
