import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { sha256Of } from '../../../common/digests.js';
import { InvalidContentError } from '../../../common/errors.js';
import { StateLayout } from '../../../common/paths.js';
import { loadFsx } from '../../../common/sys/fsx.js';
import { ContentStore } from '../../../image/content-store.js';

let root: string;
let store: ContentStore;
let layout: StateLayout;

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'berth-store-'));
  layout = new StateLayout(root, join(root, 'run'));
  store = new ContentStore(layout);
  await store.init();
});

afterEach(() => rmSync(root, { recursive: true, force: true }));

async function ingestBytes(data: Buffer, declared: { digest: ReturnType<typeof sha256Of>; size: number }): Promise<void> {
  const ingest = await store.ingest(declared.digest, { size: declared.size, what: 'test blob' });
  try {
    const sink = new Writable({ write: (_c, _e, cb) => cb() });
    await pipeline([Readable.from([data]), ...ingest.streams, sink]);
    await ingest.commit();
  } catch (err) {
    await ingest.abort();
    throw err;
  }
}

describe('ContentStore', () => {
  it('makes a streamed blob visible only after it verified', async () => {
    const data = Buffer.from('hello blob');
    const digest = sha256Of(data);
    await ingestBytes(data, { digest, size: data.length });
    expect(await store.hasBlob(digest)).toBe(true);
    expect((await store.readBlob(digest)).toString()).toBe('hello blob');
    expect(readdirSync(layout.tmpDir())).toEqual([]);
  });

  it('refuses a blob whose digest does not match and leaves nothing behind', async () => {
    const data = Buffer.from('real');
    const digest = sha256Of('claimed');
    await expect(ingestBytes(data, { digest, size: data.length })).rejects.toThrowError(/its digest is "sha256:[0-9a-f]{64}", expected/);
    expect(await store.hasBlob(digest)).toBe(false);
    expect(readdirSync(layout.tmpDir())).toEqual([]);
  });

  it('refuses a truncated blob', async () => {
    const data = Buffer.from('short');
    await expect(ingestBytes(data, { digest: sha256Of('short and more'), size: 14 })).rejects.toThrowError('got 5 bytes, expected 14');
  });

  it('refuses a blob longer than declared as soon as it is', async () => {
    const data = Buffer.from('longer than declared');
    const err = await ingestBytes(data, { digest: sha256Of(data), size: 4 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InvalidContentError);
    expect(String(err)).toContain('longer than the declared 4 bytes');
  });

  it('write stores a streamed blob under the digest of what was written, or nothing when aborted', async () => {
    const data = Buffer.from('a layer berth made');
    const writer = await store.write({ what: 'test layer' });
    await pipeline([Readable.from([data]), ...writer.streams, new Writable({ write: (_c, _e, cb) => cb() })]);
    expect(await writer.commit()).toEqual({ digest: sha256Of(data), size: data.length });
    expect((await readFile(store.blobPath(sha256Of(data)))).equals(data)).toBe(true);
    const aborted = await store.write({ what: 'test layer' });
    await pipeline([Readable.from([Buffer.from('other')]), ...aborted.streams, new Writable({ write: (_c, _e, cb) => cb() })]);
    await aborted.abort();
    expect(readdirSync(layout.tmpDir())).toEqual([]);
    expect(await store.listBlobs()).toEqual([sha256Of(data)]);
  });

  it('writeBlob checks the digest of in-memory documents', async () => {
    await expect(store.writeBlob(sha256Of('a'), Buffer.from('b'))).rejects.toThrowError(InvalidContentError);
    await store.writeBlob(sha256Of('a'), Buffer.from('a'));
    expect(await store.hasBlob(sha256Of('a'))).toBe(true);
  });

  it('publishes a staged layer under its diffID, and keeps the first of two', async () => {
    const diffId = sha256Of('layer');
    const a = await store.stageLayer();
    const b = await store.stageLayer();
    await writeFile(join(a.dir, 'from-a'), 'a');
    await writeFile(join(b.dir, 'from-b'), 'b');
    await a.commit(diffId);
    await b.commit(diffId);
    expect(readdirSync(store.layerDiffDir(diffId))).toEqual(['from-a']);
    expect(readdirSync(layout.tmpDir())).toEqual([]);
    expect(await store.listLayers()).toEqual([diffId]);
  });

  it('recover removes staging of dead processes and keeps live ones', async () => {
    const dead = join(layout.tmpDir(), '999999999-0123456789ab-layer');
    const mine = layout.newTmpPath('blob');
    await mkdir(dead);
    await writeFile(mine, 'x');
    expect(await store.recover()).toBe(1);
    expect(existsSync(dead)).toBe(false);
    expect(existsSync(mine)).toBe(true);
  });

  it('marks tmp/ and layers/ as tops of directory hierarchies where the filesystem can (chattr +T)', () => {
    // The flag is only a hint; where it is supported (ext4), lsattr must show it.
    const fsx = loadFsx();
    for (const dir of [layout.tmpDir(), layout.layersDir()]) {
      const supported = fsx.markTopDir(dir);
      const attrs = execFileSync('lsattr', ['-d', dir], { encoding: 'utf8' }).split(' ')[0] ?? '';
      expect(attrs.includes('T')).toBe(supported);
    }
  });

  it('hides then discards layers and blobs', async () => {
    const diffId = sha256Of('l');
    const s = await store.stageLayer();
    await s.commit(diffId);
    const hidden = await store.hideLayer(diffId);
    expect(await store.hasLayer(diffId)).toBe(false);
    expect(hidden).toBeDefined();
    await store.discard(hidden?.path ?? '');
    expect(await store.hideLayer(diffId)).toBeUndefined();
  });
});
