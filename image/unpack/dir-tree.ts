/**
 * The directories of one unpack that are known to be real directories, as a tree keyed by
 * path component, with the metadata each directory entry asked for.
 *
 * Invariant: a path is in the tree only while it is a real directory (never a symlink)
 * whose ancestors are real directories too, so a path built under it needs no symlink
 * resolution. Whoever removes or replaces a path calls {@link DirTree.remove}, which drops
 * the whole subtree in O(1).
 */

/** Metadata of a directory entry, applied once the layer is complete (see finish). */
export interface DirMetadata {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  readonly atime: number;
  readonly mtime: number;
}

interface DirNode {
  readonly children: Map<string, DirNode>;
  metadata: DirMetadata | undefined;
}

/** See the module comment. The root (`''`) is always known. */
export class DirTree {
  readonly #root: DirNode = { children: new Map(), metadata: undefined };
  #cachePath: string | undefined;
  #cacheNode: DirNode | undefined;

  /** True when `path` (clean, relative, no symlinks) is a known real directory. */
  has(path: string): boolean {
    return this.#find(path) !== undefined;
  }

  /** Records `path` and its ancestors as real directories. */
  add(path: string): void {
    this.#node(path, true);
  }

  /** Records the metadata a directory entry asked for at `path` (last one wins). */
  setMetadata(path: string, metadata: DirMetadata): void {
    const node = this.#node(path, true);
    if (node !== undefined) node.metadata = metadata;
  }

  /** Forgets `path` and everything under it: it was removed or replaced. */
  remove(path: string): void {
    this.#cachePath = undefined;
    this.#cacheNode = undefined;
    // The root is never removed: entries that resolve to it are ignored (extract.ts).
    if (path === '') return;
    const slash = path.lastIndexOf('/');
    const parent = slash < 0 ? this.#root : this.#find(path.slice(0, slash));
    parent?.children.delete(slash < 0 ? path : path.slice(slash + 1));
  }

  /**
   * Every directory that has metadata, deepest first (children before their parent), so
   * that setting a directory's times is the last thing that touches it.
   */
  *withMetadata(): Generator<[path: string, metadata: DirMetadata]> {
    const stack: Array<{ path: string; node: DirNode; expanded: boolean }> = [{ path: '', node: this.#root, expanded: false }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1] as { path: string; node: DirNode; expanded: boolean };
      if (!top.expanded) {
        top.expanded = true;
        for (const [name, child] of top.node.children) {
          stack.push({ path: top.path === '' ? name : `${top.path}/${name}`, node: child, expanded: false });
        }
        continue;
      }
      stack.pop();
      if (top.node.metadata !== undefined) yield [top.path, top.node.metadata];
    }
  }

  #find(path: string): DirNode | undefined {
    return this.#node(path, false);
  }

  #node(path: string, create: boolean): DirNode | undefined {
    if (path === '') return this.#root;
    // Consecutive entries mostly share a parent: remember the last lookup.
    if (path === this.#cachePath) return this.#cacheNode;
    let node = this.#root;
    for (const part of path.split('/')) {
      let child = node.children.get(part);
      if (child === undefined) {
        if (!create) return undefined;
        child = { children: new Map(), metadata: undefined };
        node.children.set(part, child);
      }
      node = child;
    }
    this.#cachePath = path;
    this.#cacheNode = node;
    return node;
  }
}
