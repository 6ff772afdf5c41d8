/**
 * containerChanges on temp directories laid out as overlay upper and lower directories.
 * Whiteouts (mknod 0/0) and trusted.overlay.opaque need root: those tests skip with the
 * reason otherwise, and fail instead under CI (test/helpers/require.ts).
 */
import { chmod, mkdir, mkdtemp, rm, symlink, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadFsx } from '../../../common/sys/index.js';
import { containerChanges, type Change } from '../../../runtime/diff.js';
import { rootGate } from '../../helpers/require.js';

const S_IFCHR = 0o020000;

let work: string;
let upper: string;
let lower: string;
let base: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-diff-'));
  upper = join(work, 'upper');
  lower = join(work, 'lower');
  base = join(work, 'base');
  for (const dir of [upper, lower, base]) await mkdir(dir);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Creates files (content) and directories (trailing "/") under `dir`. */
async function tree(dir: string, paths: readonly string[]): Promise<void> {
  for (const path of paths) {
    if (path.endsWith('/')) await mkdir(join(dir, path), { recursive: true });
    else await writeFile(join(dir, path), path);
  }
}

/** Gives `path` in upper and in lower the same times, as overlayfs copy-up does. */
async function sameTimes(...paths: string[]): Promise<void> {
  for (const path of paths) {
    await utimes(join(upper, path), 1_600_000_000, 1_600_000_000);
    await utimes(join(lower, path), 1_600_000_000, 1_600_000_000);
  }
}

const show = (changes: readonly Change[]): string[] => changes.map((c) => `${c.kind} ${c.path}`);

describe('containerChanges', () => {
  it('reports added and changed files with their parent directories, in walk order', async () => {
    await tree(lower, ['etc/', 'etc/hosts', 'usr/', 'usr/bin/', 'usr/bin/sh']);
    await tree(upper, ['etc/', 'etc/hosts', 'etc/new', 'usr/', 'usr/bin/', 'usr/bin/sh', 'a/', 'a/b', 'a-b', 'tmp/', 'tmp/x/', 'tmp/x/y']);
    await sameTimes('etc', 'usr', 'usr/bin');
    expect(show(await containerChanges(upper, [lower, base]))).toEqual([
      'A /a', 'A /a/b', 'A /a-b',
      'C /etc', 'C /etc/hosts', 'A /etc/new',
      'A /tmp', 'A /tmp/x', 'A /tmp/x/y',
      'C /usr', 'C /usr/bin', 'C /usr/bin/sh',
    ]);
  });

  it('skips a copied-up directory that is unchanged, and reports one whose mode changed', async () => {
    await tree(lower, ['etc/', 'var/']);
    await tree(upper, ['etc/', 'var/']);
    await chmod(join(upper, 'var'), 0o700);
    await sameTimes('etc', 'var');
    expect(show(await containerChanges(upper, [lower]))).toEqual(['C /var']);
  });

  it('looks a path up in every lower, topmost first', async () => {
    await tree(base, ['opt/', 'opt/tool']);
    await tree(upper, ['opt/', 'opt/tool']);
    expect(show(await containerChanges(upper, [lower, base]))).toEqual(['C /opt', 'C /opt/tool']);
  });

  it('reports a symlink without following it', async () => {
    await tree(lower, ['etc/', 'etc/passwd']);
    await symlink('/', join(upper, 'root-link'));
    await symlink(lower, join(upper, 'host-link'));
    expect(show(await containerChanges(upper, [lower]))).toEqual(['A /host-link', 'A /root-link']);
  });
});

const asRoot = rootGate();

describe.skipIf(asRoot.reason)(asRoot.title('containerChanges with whiteouts and opaque directories'), () => {
  beforeAll(asRoot.check);
  const fsx = () => loadFsx();
  const whiteout = (dir: string, path: string) => fsx().mknod(join(dir, path), S_IFCHR, 0, 0);
  const opaque = (dir: string, path: string) => fsx().lsetxattr(join(dir, path), 'trusted.overlay.opaque', Buffer.from('y'));

  it('reports a whiteout as D under its path, and its parent as changed', async () => {
    await tree(lower, ['etc/', 'etc/motd', 'srv/', 'srv/www/', 'srv/www/index.html']);
    await tree(upper, ['etc/', 'srv/']);
    await sameTimes('etc', 'srv');
    whiteout(upper, 'etc/motd');
    whiteout(upper, 'srv/www');
    expect(show(await containerChanges(upper, [lower]))).toEqual(['C /etc', 'D /etc/motd', 'C /srv', 'D /srv/www']);
  });

  it('reports an opaque directory as changed, what it hides as deleted, and files written again as changed', async () => {
    await tree(lower, ['app/', 'app/old', 'app/keep', 'app/sub/', 'app/sub/deep']);
    await tree(upper, ['app/', 'app/keep', 'app/new']);
    await sameTimes('app');
    opaque(upper, 'app');
    expect(show(await containerChanges(upper, [lower]))).toEqual(['C /app', 'C /app/keep', 'A /app/new', 'D /app/old', 'D /app/sub']);
  });

  it('applies the lower layers\' own whiteouts and opaque directories', async () => {
    await tree(base, ['gone', 'd/', 'd/old', 'd/other']);
    await tree(lower, ['d/', 'd/other']);
    whiteout(lower, 'gone');
    opaque(lower, 'd');
    await tree(upper, ['gone', 'd/', 'd/old', 'd/other']);
    await sameTimes('d');
    expect(show(await containerChanges(upper, [lower, base]))).toEqual(['C /d', 'A /d/old', 'C /d/other', 'A /gone']);
  });
});
