import { describe, expect, it } from 'vitest';
import { DirTree, type DirMetadata } from '../../../../image/unpack/dir-tree.js';

const meta = (mode: number): DirMetadata => ({ mode, uid: 0, gid: 0, atime: 0, mtime: 0 });

describe('DirTree', () => {
  it('knows the root and what was added, with its ancestors', () => {
    const tree = new DirTree();
    expect(tree.has('')).toBe(true);
    tree.add('a/b/c');
    expect(tree.has('a')).toBe(true);
    expect(tree.has('a/b/c')).toBe(true);
    expect(tree.has('a/b/d')).toBe(false);
  });

  it('forgets a whole subtree on remove, cached lookups included', () => {
    const tree = new DirTree();
    tree.add('a/b/c');
    tree.add('a/x');
    expect(tree.has('a/b/c')).toBe(true);
    tree.remove('a/b');
    expect(tree.has('a/b/c')).toBe(false);
    expect(tree.has('a/b')).toBe(false);
    expect(tree.has('a/x')).toBe(true);
    tree.remove('');
    expect(tree.has('')).toBe(true);
  });

  it('lists directories with metadata deepest first, last metadata winning', () => {
    const tree = new DirTree();
    tree.setMetadata('a', meta(0o700));
    tree.setMetadata('a/b', meta(0o711));
    tree.setMetadata('a/b/c', meta(0o755));
    tree.setMetadata('z', meta(0o750));
    tree.setMetadata('a', meta(0o701));
    tree.add('a/b/d');
    const listed = [...tree.withMetadata()].map(([path, m]): [string, number] => [path, m.mode]);
    expect(listed.findIndex(([p]) => p === 'a/b/c')).toBeLessThan(listed.findIndex(([p]) => p === 'a/b'));
    expect(listed.findIndex(([p]) => p === 'a/b')).toBeLessThan(listed.findIndex(([p]) => p === 'a'));
    expect(new Map(listed)).toEqual(new Map([['a', 0o701], ['a/b', 0o711], ['a/b/c', 0o755], ['z', 0o750]]));
  });
});
