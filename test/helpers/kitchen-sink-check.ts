/**
 * Checks a flattened rootfs (umoci's, or an overlay over berth's layer dirs) against
 * {@link kitchenSinkExpectations}, independently of any other unpacker.
 */
import { createHash } from 'node:crypto';
import { kitchenSinkExpectations, type KitchenSinkExpectations } from './kitchen-sink.js';
import { snapshotTree, showXattrValue, type TreeEntry, type TreeSnapshot } from './tree.js';

/** Every way `snapshot` departs from `expected`, one readable line each; empty when it matches. */
export function kitchenSinkProblems(snapshot: TreeSnapshot, expected: KitchenSinkExpectations = kitchenSinkExpectations): string[] {
  const byPath = new Map<string, TreeEntry>(snapshot.map((e) => [e.path, e]));
  const problems: string[] = [];
  const need = (path: string): TreeEntry | undefined => {
    const entry = byPath.get(path);
    if (entry === undefined) problems.push(`${path}: missing`);
    return entry;
  };
  for (const [path, content] of Object.entries(expected.files)) {
    const entry = need(path);
    const sha = createHash('sha256').update(content).digest('hex');
    if (entry !== undefined && (entry.type !== 'file' || entry.sha256 !== sha)) problems.push(`${path}: not a file holding ${JSON.stringify(content)}`);
  }
  for (const path of expected.absent) if (byPath.has(path)) problems.push(`${path}: present, should be absent`);
  for (const group of expected.hardlinks) {
    const groups = new Set(group.map((p) => need(p)?.hardlinkGroup ?? `none:${p}`));
    if (groups.size !== 1) problems.push(`${group.join(', ')}: not one inode`);
  }
  for (const [path, target] of Object.entries(expected.symlinks)) {
    const entry = need(path);
    if (entry !== undefined && entry.linkTarget !== target) problems.push(`${path}: symlink to ${String(entry.linkTarget)}, should be to ${target}`);
  }
  for (const [path, mode] of Object.entries(expected.modes)) {
    const entry = need(path);
    if (entry !== undefined && entry.mode !== mode) problems.push(`${path}: mode 0o${entry.mode.toString(8)}, should be 0o${mode.toString(8)}`);
  }
  for (const [path, [uid, gid]] of Object.entries(expected.owners)) {
    const entry = need(path);
    if (entry !== undefined && (entry.uid !== uid || entry.gid !== gid)) problems.push(`${path}: owner ${entry.uid}:${entry.gid}, should be ${uid}:${gid}`);
  }
  for (const [path, device] of Object.entries(expected.devices)) {
    const entry = need(path);
    if (entry !== undefined && (entry.type !== device.type || entry.rdev?.major !== device.major || entry.rdev.minor !== device.minor)) {
      problems.push(`${path}: ${entry.type} ${JSON.stringify(entry.rdev)}, should be ${device.type} ${device.major}:${device.minor}`);
    }
  }
  for (const path of expected.fifos) if (need(path)?.type !== 'fifo' && byPath.has(path)) problems.push(`${path}: not a fifo`);
  for (const [path, names] of Object.entries(expected.xattrs)) {
    const entry = need(path);
    if (entry === undefined) continue;
    for (const [name, value] of Object.entries(names)) {
      const actual = entry.xattrs[name];
      if (value === null && actual !== undefined) problems.push(`${path}: xattr ${name} present, should be absent`);
      if (value !== null && actual !== showXattrValue(value)) problems.push(`${path}: xattr ${name} is ${String(actual)}, should be ${showXattrValue(value)}`);
    }
  }
  for (const [path, mtime] of Object.entries(expected.mtimes)) {
    const entry = need(path);
    if (entry !== undefined && entry.mtime !== mtime) problems.push(`${path}: mtime ${entry.mtime}, should be ${mtime}`);
  }
  return problems;
}

/** {@link kitchenSinkProblems} of the tree at `dir`. */
export async function checkKitchenSinkTree(dir: string): Promise<string[]> {
  return kitchenSinkProblems(await snapshotTree(dir));
}
