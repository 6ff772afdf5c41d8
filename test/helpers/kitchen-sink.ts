/**
 * The kitchen-sink fixture's layers and what its flattened rootfs must hold. The layer
 * rules are image-spec layer.md ("Whiteouts", "Opaque Whiteout", "Changesets"): a later
 * entry replaces an earlier one of the same path, whatever its type; `.wh.NAME` removes
 * NAME from lower layers; `.wh..wh..opq` hides every lower entry of its directory.
 */
import type { TarEntry } from './tar.js';

/** security.capability for cap_net_raw+ep (linux/capability.h, VFS_CAP_REVISION_2). */
const capNetRaw = Buffer.from([1, 0, 0, 2, 0, 0x20, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
const binaryXattr = Buffer.from([0, 1, 2, 0xfe, 0xff]);
const longName = `data/long/${'a-very-long-file-name-'.repeat(6)}end.txt`;

function layer1(): TarEntry[] {
  return [
    { type: 'dir', path: 'bin' },
    { type: 'file', path: 'bin/suid', content: '#!/bin/sh\necho suid\n', mode: 0o4755 },
    { type: 'file', path: 'bin/sgid', content: '#!/bin/sh\necho sgid\n', mode: 0o2755, gid: 50 },
    { type: 'file', path: 'bin/ping', content: 'not really ping\n', mode: 0o755, xattrs: { 'security.capability': capNetRaw } },
    { type: 'dir', path: 'etc' },
    { type: 'file', path: 'etc/passwd', content: 'root:x:0:0:root:/root:/bin/sh\n' },
    { type: 'dir', path: 'tmp', mode: 0o1777 },
    { type: 'dir', path: 'dev' },
    { type: 'char', path: 'dev/null', major: 1, minor: 3, mode: 0o666 },
    { type: 'char', path: 'dev/zero', major: 1, minor: 5, mode: 0o666 },
    { type: 'block', path: 'dev/loop0', major: 7, minor: 0, mode: 0o660, gid: 6 },
    { type: 'fifo', path: 'dev/fifo', mode: 0o600 },
    { type: 'dir', path: 'data' },
    { type: 'dir', path: 'data/opaque' },
    { type: 'file', path: 'data/opaque/a', content: 'a\n' },
    { type: 'file', path: 'data/opaque/b', content: 'b\n' },
    { type: 'dir', path: 'data/opaque/sub' },
    { type: 'file', path: 'data/opaque/sub/deep', content: 'deep\n' },
    { type: 'dir', path: 'data/removed-dir' },
    { type: 'file', path: 'data/removed-dir/file', content: 'in removed dir\n' },
    { type: 'file', path: 'data/removed-file', content: 'gone in layer 2\n' },
    { type: 'file', path: 'data/kept', content: 'version 1\n' },
    { type: 'file', path: 'data/chmod-me', content: 'same content\n', mode: 0o600 },
    { type: 'dir', path: 'data/odd', mode: 0o750, uid: 1234, gid: 5678 },
    { type: 'file', path: 'data/odd/owned', content: 'odd owner\n', uid: 1234, gid: 5678, mode: 0o640 },
    { type: 'file', path: 'data/nobody', content: 'nobody\n', uid: 65534, gid: 65534 },
    { type: 'file', path: 'data/big-uid', content: 'pax uid\n', uid: 3_000_000, gid: 3_000_001 },
    { type: 'dir', path: 'data/sgid-dir', mode: 0o2775, gid: 50 },
    { type: 'file', path: 'data/empty', content: '' },
    { type: 'file', path: 'data/old-mtime', content: 'mtime 2001\n', mtime: 1_000_000_000 },
    { type: 'dir', path: 'data/long' },
    { type: 'file', path: longName, content: 'long name via pax path\n' },
    { type: 'file', path: 'data/café-ñ.txt', content: 'utf-8 name\n' },
    { type: 'dir', path: 'data/hardlink' },
    { type: 'file', path: 'data/hardlink/original', content: 'shared by three names\n', mode: 0o640 },
    { type: 'hardlink', path: 'data/hardlink/link1', target: 'data/hardlink/original' },
    { type: 'hardlink', path: 'data/hardlink/link2', target: 'data/hardlink/original' },
    { type: 'dir', path: 'data/links' },
    { type: 'symlink', path: 'data/links/abs', target: '/etc/passwd' },
    { type: 'symlink', path: 'data/links/rel', target: '../kept' },
    { type: 'symlink', path: 'data/links/dangling', target: '/does/not/exist' },
    { type: 'symlink', path: 'data/links/dir-link', target: '../opaque' },
    {
      type: 'file',
      path: 'data/xattrs',
      content: 'has xattrs\n',
      xattrs: { 'user.berth.text': 'hello', 'user.berth.binary': binaryXattr, 'trusted.berth.test': 'trusted value' },
    },
    { type: 'dir', path: 'data/xattr-dir', xattrs: { 'user.berth.dir': 'on a directory' } },
  ];
}

function layer2(): TarEntry[] {
  return [
    { type: 'dir', path: 'data' },
    { type: 'file', path: 'data/.wh.removed-file', content: '' },
    { type: 'file', path: 'data/.wh.removed-dir', content: '' },
    { type: 'file', path: 'data/.wh.never-existed', content: '' },
    { type: 'dir', path: 'data/opaque', mode: 0o700 },
    { type: 'file', path: 'data/opaque/.wh..wh..opq', content: '' },
    { type: 'file', path: 'data/opaque/c', content: 'c from layer 2\n' },
    { type: 'file', path: 'data/kept', content: 'version 2\n' },
    { type: 'file', path: 'data/chmod-me', content: 'same content\n', mode: 0o644 },
    { type: 'dir', path: 'data/odd', mode: 0o755, uid: 4321, gid: 8765 },
    { type: 'file', path: 'data/layer2', content: 'added in layer 2\n' },
  ];
}

function layer3(): TarEntry[] {
  return [
    { type: 'dir', path: 'data' },
    { type: 'dir', path: 'data/removed-file', mode: 0o711 },
    { type: 'file', path: 'data/removed-file/now-a-dir', content: 'recreated as a directory\n' },
    { type: 'file', path: 'data/links/rel', content: 'a symlink replaced by a file\n' },
    { type: 'file', path: 'data/opaque/.wh.c', content: '' },
    { type: 'file', path: 'data/opaque/d', content: 'd from layer 3\n' },
    { type: 'file', path: 'data/xattrs', content: 'xattrs replaced\n', xattrs: { 'user.berth.text': 'changed' } },
    { type: 'file', path: 'data/hardlink/l3-original', content: 'layer 3 hardlink\n' },
    { type: 'hardlink', path: 'data/hardlink/l3-link', target: 'data/hardlink/l3-original' },
  ];
}

/** The kitchen sink's three layers of tar entries. */
export function kitchenSinkLayers(): [TarEntry[], TarEntry[], TarEntry[]] {
  return [layer1(), layer2(), layer3()];
}

/** What the flattened kitchen-sink rootfs holds (paths relative to its root). */
export interface KitchenSinkExpectations {
  /** Regular files and their exact contents. */
  readonly files: Readonly<Record<string, string>>;
  /** Paths that must not exist (whiteout targets, entries hidden by the opaque dir). */
  readonly absent: readonly string[];
  /** Groups of paths that must share one inode. */
  readonly hardlinks: readonly (readonly string[])[];
  readonly symlinks: Readonly<Record<string, string>>;
  /** Permission bits (mode & 0o7777). */
  readonly modes: Readonly<Record<string, number>>;
  readonly owners: Readonly<Record<string, readonly [uid: number, gid: number]>>;
  readonly devices: Readonly<Record<string, { type: 'char' | 'block'; major: number; minor: number }>>;
  readonly fifos: readonly string[];
  /** xattrs that must be present with these values; `null` means the name must be absent. */
  readonly xattrs: Readonly<Record<string, Readonly<Record<string, Buffer | null>>>>;
  /** File mtimes in seconds. */
  readonly mtimes: Readonly<Record<string, number>>;
}

/** The expected flattened rootfs of {@link kitchenSinkLayers}. */
export const kitchenSinkExpectations: KitchenSinkExpectations = {
  files: {
    'data/kept': 'version 2\n',
    'data/chmod-me': 'same content\n',
    'data/layer2': 'added in layer 2\n',
    'data/removed-file/now-a-dir': 'recreated as a directory\n',
    'data/links/rel': 'a symlink replaced by a file\n',
    'data/opaque/d': 'd from layer 3\n',
    'data/xattrs': 'xattrs replaced\n',
    'data/empty': '',
    'data/big-uid': 'pax uid\n',
    [longName]: 'long name via pax path\n',
    'data/café-ñ.txt': 'utf-8 name\n',
    'data/hardlink/link2': 'shared by three names\n',
  },
  absent: [
    'data/removed-dir',
    'data/never-existed',
    'data/opaque/a',
    'data/opaque/b',
    'data/opaque/c',
    'data/opaque/sub',
    'data/.wh.removed-file',
    'data/opaque/.wh..wh..opq',
    'data/opaque/.wh.c',
  ],
  hardlinks: [
    ['data/hardlink/original', 'data/hardlink/link1', 'data/hardlink/link2'],
    ['data/hardlink/l3-original', 'data/hardlink/l3-link'],
  ],
  symlinks: { 'data/links/abs': '/etc/passwd', 'data/links/dangling': '/does/not/exist', 'data/links/dir-link': '../opaque' },
  modes: {
    'bin/suid': 0o4755,
    'bin/sgid': 0o2755,
    tmp: 0o1777,
    'data/sgid-dir': 0o2775,
    'data/chmod-me': 0o644,
    'data/opaque': 0o700,
    'data/odd': 0o755,
    'data/odd/owned': 0o640,
    'data/removed-file': 0o711,
    'data/hardlink/link1': 0o640,
  },
  owners: {
    'data/odd': [4321, 8765],
    'data/odd/owned': [1234, 5678],
    'data/nobody': [65534, 65534],
    'data/big-uid': [3_000_000, 3_000_001],
    'bin/sgid': [0, 50],
    'dev/loop0': [0, 6],
  },
  devices: {
    'dev/null': { type: 'char', major: 1, minor: 3 },
    'dev/zero': { type: 'char', major: 1, minor: 5 },
    'dev/loop0': { type: 'block', major: 7, minor: 0 },
  },
  fifos: ['dev/fifo'],
  xattrs: {
    'data/xattrs': { 'user.berth.text': Buffer.from('changed'), 'user.berth.binary': null, 'trusted.berth.test': null },
    'data/xattr-dir': { 'user.berth.dir': Buffer.from('on a directory') },
    'bin/ping': { 'security.capability': capNetRaw },
  },
  mtimes: { 'data/old-mtime': 1_000_000_000, 'data/kept': 1_704_067_200 },
};

/** The layer-1 xattrs of data/xattrs (before layer 3 replaced the file), for per-layer checks. */
export const kitchenSinkLayer1Xattrs: Readonly<Record<string, Buffer>> = {
  'user.berth.text': Buffer.from('hello'),
  'user.berth.binary': binaryXattr,
  'trusted.berth.test': Buffer.from('trusted value'),
};
