/**
 * commitUpper on the upper directory of a real overlayfs mount: files deleted from the
 * lower layer and a directory replaced in the merged view, as a container would, become
 * OCI whiteouts; the committed layer, mounted over the same lower, shows what the original
 * overlay showed. The read-write overlay is mounted in a private mount namespace of a
 * child process (`unshare -m`), so it never outlives the test.
 */
import { createReadStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { extract, type Header } from 'tar-stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { StateLayout } from '../../common/paths.js';
import { ContentStore } from '../../image/content-store.js';
import { commitUpper } from '../../image/snapshot-commit.js';
import type { Digest } from '../../oci/index.js';
import { makeTempDir, removeDir, run } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';
import { diffTrees, formatDifferences, snapshotTree, withMergedLayers } from '../helpers/tree.js';

const reason = checkPrerequisites({ root: true, commands: ['unshare', 'mount', 'umount'] });

/** Changes a container could make, run in the merged view ($1 lower, $2 upper, $3 work, $4 merged). */
const changes = `
mount -t overlay overlay -o "lowerdir=$1,upperdir=$2,workdir=$3" "$4"
cd "$4"
rm etc/motd
rm both/a both/b
rm -r gone-dir
rm -r app
mkdir app
echo new > app/new
echo added > added
echo changed >> etc/keep
`;

describe.skipIf(reason)('commitUpper on a real overlay', () => {
  let work: string;
  let store: ContentStore;
  const dir = (name: string): string => join(work, name);

  beforeEach(async () => {
    work = await makeTempDir('commit');
    for (const name of ['lower', 'upper', 'work', 'merged']) await mkdir(dir(name));
    for (const path of ['etc/', 'etc/motd', 'etc/keep', 'both/', 'both/a', 'both/b', 'gone-dir/', 'gone-dir/x', 'app/', 'app/old', 'app/sub/', 'app/sub/deep']) {
      if (path.endsWith('/')) await mkdir(join(dir('lower'), path));
      else await writeFile(join(dir('lower'), path), `${path}\n`);
    }
    store = new ContentStore(new StateLayout(dir('store'), dir('run')));
    await store.init();
  });
  afterEach(async () => {
    await removeDir(work);
  });

  async function headers(digest: Digest): Promise<Header[]> {
    const extractor = extract();
    const feeding = pipeline(createReadStream(store.blobPath(digest)), createGunzip(), extractor);
    const out: Header[] = [];
    for await (const entry of extractor) {
      out.push(entry.header);
      entry.resume();
    }
    await feeding;
    return out;
  }

  it('writes overlay whiteouts and opaque directories as OCI whiteouts, and unpacks to the same view', async () => {
    await run('unshare', ['-m', '--propagation', 'private', 'sh', '-euc', changes, 'sh', dir('lower'), dir('upper'), dir('work'), dir('merged')]);
    const layer = await commitUpper(dir('upper'), store);
    const entries = await headers(layer.digest);
    expect(entries.map((h) => h.name)).toEqual([
      'added',
      'app/', 'app/.wh..wh..opq', 'app/new',
      // overlayfs links both whiteouts to one inode: still two whiteouts.
      'both/', 'both/.wh.a', 'both/.wh.b',
      'etc/', 'etc/keep', 'etc/.wh.motd',
      '.wh.gone-dir',
    ]);
    for (const h of entries.filter((e) => e.name.includes('.wh.'))) expect(h).toMatchObject({ type: 'file', size: 0 });
    // overlayfs's bookkeeping (opaque, origin, impure) stays out of the layer.
    for (const h of entries) expect(Object.keys(h.pax ?? {}).filter((k) => k.includes('overlay'))).toEqual([]);

    const view = (top: string) => withMergedLayers([top, dir('lower')], (merged) => snapshotTree(merged));
    const expected = await view(dir('upper'));
    expect(expected.map((e) => e.path)).toEqual(['added', 'app', 'app/new', 'both', 'etc', 'etc/keep']);
    const actual = await view(store.layerDiffDir(layer.diffId));
    expect(formatDifferences(diffTrees(expected, actual))).toBe('');
  });
});
