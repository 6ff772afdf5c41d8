import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { InvalidContentError } from '../../../../common/errors.js';
import { classifyWhiteout, cleanEntryPath, joinPath, printable, splitPath } from '../../../../image/unpack/safe-path.js';

describe('cleanEntryPath', () => {
  it.each([
    ['usr/bin/env', 'usr/bin/env'],
    ['./usr/bin/', 'usr/bin'],
    ['/etc/passwd', 'etc/passwd'],
    ['//etc//passwd//', 'etc/passwd'],
    ['./././a/./b', 'a/b'],
    ['a/b/../c', 'a/c'],
    ['../../../etc/shadow', 'etc/shadow'],
    ['a/../../../../b', 'b'],
    ['/..', ''],
    ['.', ''],
    ['./', ''],
    ['/.', ''],
    ['/', ''],
    ['', ''],
    ['..a/b..', '..a/b..'],
    ['a//', 'a'],
    ['.//', ''],
    ['.//a', 'a'],
    ['a/.', 'a'],
    ['a/./', 'a'],
    ['..', ''],
    ['../', ''],
    ['./..', ''],
    ['a/..', ''],
    ['.hidden/.x/..y', '.hidden/.x/..y'],
    ['.wh.x', '.wh.x'],
  ])('cleans %j to %j', (name, clean) => {
    expect(cleanEntryPath(name)).toBe(clean);
  });

  it('agrees with a rooted path.posix.normalize on random names', () => {
    const parts = ['a', 'b.', '..c', '.', '..', '', '.wh.x'];
    let seed = 42;
    const next = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    for (let i = 0; i < 5000; i++) {
      const name = Array.from({ length: 1 + next(6) }, () => parts[next(parts.length)]).join('/');
      const expected = posix.normalize(`/${name}`).replace(/^\/+|\/+$/g, '');
      expect(cleanEntryPath(name), name).toBe(expected);
    }
  });

  it('refuses a NUL byte', () => {
    expect(() => cleanEntryPath('a\0b')).toThrow(InvalidContentError);
  });
});

describe('splitPath and joinPath', () => {
  it('split a clean path into parent and base', () => {
    expect(splitPath('a/b/c')).toEqual({ parent: 'a/b', base: 'c' });
    expect(splitPath('c')).toEqual({ parent: '', base: 'c' });
    expect(joinPath('', 'c')).toBe('c');
    expect(joinPath('a/b', 'c')).toBe('a/b/c');
  });
});

describe('classifyWhiteout', () => {
  it('tells plain names, whiteouts, the opaque marker and meta files apart', () => {
    expect(classifyWhiteout('file', 'file')).toEqual({ kind: 'none' });
    expect(classifyWhiteout('.wh.file', '.wh.file')).toEqual({ kind: 'whiteout', name: 'file' });
    expect(classifyWhiteout('.wh..wh..opq', 'd/.wh..wh..opq')).toEqual({ kind: 'opaque' });
    expect(classifyWhiteout('.wh..wh.plnk', '.wh..wh.plnk')).toEqual({ kind: 'meta' });
    expect(classifyWhiteout('.wh..hidden', '.wh..hidden')).toEqual({ kind: 'whiteout', name: '.hidden' });
  });

  it.each(['.wh.', '.wh..', '.wh...'])('refuses the whiteout %j', (base) => {
    expect(() => classifyWhiteout(base, `d/${base}`)).toThrow(InvalidContentError);
  });
});

describe('printable', () => {
  it('escapes control characters and caps the length', () => {
    expect(printable('a\nb\u0007')).toBe('a\\x0ab\\x07');
    expect(printable('x'.repeat(300))).toHaveLength(201);
  });
});
