/** A regular file's data: the descriptor is closed exactly once, also when the data stream fails. */
import { fstatSync, mkdtempSync, openSync, closeSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import type { LayerEntry } from '../../../../image/unpack/entry.js';
import { loadFsx } from '../../../../common/sys/fsx.js';
import { writeFileEntry, type EntryData } from '../../../../image/unpack/file-writer.js';

function entry(size: number): LayerEntry {
  return {
    name: 'big', type: 'file', mode: 0o644, uid: 0, gid: 0, size, mtime: 0, atime: 0, linkname: '', devmajor: 0, devminor: 0,
    xattrs: new Map(),
  } as LayerEntry;
}

/** A data stream that gives some bytes, then fails. */
function failing(): EntryData {
  const stream = new Readable({ read() {} });
  stream.push(Buffer.alloc(1 << 20));
  setTimeout(() => stream.destroy(new Error('the tar stream broke')), 10);
  return Object.assign(stream, { destroying: false }) as unknown as EntryData;
}

describe('writeFileEntry', () => {
  let dir: string | undefined;
  afterEach(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it('reports the stream\'s failure and never closes a descriptor twice', async () => {
    dir = mkdtempSync(join(tmpdir(), 'berth-file-writer-'));
    const fd = openSync(join(dir, 'big'), 'w');
    const policy = { privileged: false, defaultOwner: undefined, umask: 0o022, fsx: loadFsx() };
    await expect(writeFileEntry(fd, join(dir, 'big'), entry(8 << 20), failing(), policy)).rejects.toThrow('the tar stream broke');
    // Whatever gets that number next must stay open: a second close would have hit it.
    const next = openSync(join(dir, 'other'), 'w');
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(() => fstatSync(next)).not.toThrow();
    } finally {
      closeSync(next);
    }
  });
});
