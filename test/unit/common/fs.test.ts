import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FailedPreconditionError } from '../../../common/errors.js';
import { makeDirectory, makeDirectorySync } from '../../../common/fs.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-fs-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('makeDirectory', () => {
  it('creates missing parents with the mode, and accepts an existing directory', async () => {
    const deep = join(dir, 'a', 'b', 'c');
    await makeDirectory(deep, 0o700);
    expect(statSync(deep).mode & 0o777).toBe(0o700);
    await makeDirectory(deep);
    makeDirectorySync(join(dir, 'x', 'y'));
    expect(existsSync(join(dir, 'x', 'y'))).toBe(true);
  });

  it('fails with a clear error under a file', async () => {
    writeFileSync(join(dir, 'file'), '');
    await expect(makeDirectory(join(dir, 'file', 'sub'))).rejects.toThrowError(FailedPreconditionError);
    expect(() => makeDirectorySync(join(dir, 'file', 'sub'))).toThrowError(/not a directory/);
  });

  // Node's own recursive mkdir spins forever here (mkdir(2) says ENOENT under /proc).
  it('fails instead of looping under /proc', async () => {
    await expect(makeDirectory('/proc/berth-nope/x')).rejects.toThrowError(/Cannot use "\/proc\/berth-nope\/x"/);
    expect(() => makeDirectorySync('/proc/berth-nope/x')).toThrowError(FailedPreconditionError);
  });
});
