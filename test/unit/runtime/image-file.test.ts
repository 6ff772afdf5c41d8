/**
 * readImageFile and resolveImagePath on temp directories laid out as overlay lower layers.
 * The symlink cases run unprivileged; whiteouts (mknod 0/0) and trusted.overlay.opaque
 * need root: those tests skip with the reason otherwise, and fail instead under CI
 * (test/helpers/require.ts).
 */
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { loadFsx } from '../../../common/sys/index.js';
import { maxSymlinkHops, readImageFile, resolveImagePath } from '../../../runtime/image-file.js';
import { rootGate } from '../../helpers/require.js';

const S_IFCHR = 0o020000;

let work: string;
/** Layer directories, topmost first. */
let top: string;
let base: string;

beforeEach(async () => {
  work = await mkdtemp(join(tmpdir(), 'berth-imagefile-'));
  top = join(work, 'top');
  base = join(work, 'base');
  for (const dir of [top, base]) await mkdir(dir);
});
afterEach(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Creates files (content) and directories (trailing "/") under `dir`. */
async function tree(dir: string, files: Readonly<Record<string, string>>): Promise<void> {
  for (const [path, content] of Object.entries(files)) {
    if (path.endsWith('/')) await mkdir(join(dir, path), { recursive: true });
    else {
      await mkdir(join(dir, path, '..'), { recursive: true });
      await writeFile(join(dir, path), content);
    }
  }
}

describe('readImageFile follows symlinks inside the image, never out to the host', () => {
  it('reads a plain file from the topmost layer that has it', async () => {
    await tree(base, { 'etc/passwd': 'base\n', 'etc/group': 'base-group\n' });
    await tree(top, { 'etc/passwd': 'top\n' });
    expect(await readImageFile([top, base], 'etc/passwd')).toBe('top\n');
    expect(await readImageFile([top, base], 'etc/group')).toBe('base-group\n');
    expect(await readImageFile([top, base], 'etc/shadow')).toBeUndefined();
  });

  it('re-roots an absolute /etc symlink at the image root: /etc -> /etc is a loop, not the host\'s /etc', async () => {
    await symlink('/etc', join(top, 'etc'));
    await tree(base, { 'etc/passwd': 'hidden by the symlink above\n' });
    expect(await readImageFile([top, base], 'etc/passwd')).toBeUndefined();
    expect(await resolveImagePath([top, base], 'etc/passwd')).toEqual({ found: false, errno: 'ELOOP' });
  });

  it('re-roots an absolute symlink to another image directory', async () => {
    await symlink('/data/etc', join(top, 'etc'));
    await tree(base, { 'data/etc/passwd': 'image passwd\n' });
    expect(await readImageFile([top, base], 'etc/passwd')).toBe('image passwd\n');
  });

  it('keeps ".." at the image root: etc -> ../../../../etc resolves to the image\'s own /etc', async () => {
    await tree(top, { 'real/': '' });
    await symlink('../../../../etc', join(top, 'real', 'etc'));
    await symlink('real/etc', join(top, 'etc'));
    // /etc -> real/etc -> ../../../../etc = /etc again (a loop); the host's /etc is never read.
    expect(await readImageFile([top], 'etc/passwd')).toBeUndefined();
    await rm(join(top, 'etc'));
    await symlink('../../../../image-etc', join(top, 'etc'));
    await tree(base, { 'image-etc/passwd': 'in the image\n' });
    expect(await readImageFile([top, base], 'etc/passwd')).toBe('in the image\n');
  });

  it('re-roots a final absolute symlink: etc/passwd -> /etc/shadow reads the image\'s shadow', async () => {
    await tree(top, { 'etc/shadow': 'image shadow\n' });
    await symlink('/etc/shadow', join(top, 'etc', 'passwd'));
    expect(await readImageFile([top], 'etc/passwd')).toBe('image shadow\n');
    await rm(join(top, 'etc', 'shadow'));
    // The host has an /etc/shadow; the image does not.
    expect(await readImageFile([top], 'etc/passwd')).toBeUndefined();
  });

  it('resolves a relative symlink in a lower layer against the merged directory', async () => {
    await tree(top, { 'etc/group': 'top group\n' });
    await tree(base, { 'etc/': '' });
    await symlink('group', join(base, 'etc', 'passwd'));
    expect(await readImageFile([top, base], 'etc/passwd')).toBe('top group\n');
  });

  it(`stops after ${maxSymlinkHops} symlinks with ELOOP`, async () => {
    await symlink('b', join(top, 'a'));
    await symlink('a', join(top, 'b'));
    expect(await resolveImagePath([top], 'a')).toEqual({ found: false, errno: 'ELOOP' });
    expect(await readImageFile([top], 'a')).toBeUndefined();
    // A chain of exactly 40 resolves, as on Linux; 41 does not.
    await tree(top, { 'chain/end': 'end\n' });
    for (let i = 0; i < maxSymlinkHops + 1; i++) await symlink(i === 0 ? 'end' : `l${i - 1}`, join(top, 'chain', `l${i}`));
    expect(await readImageFile([top], `chain/l${maxSymlinkHops - 1}`)).toBe('end\n');
    expect(await resolveImagePath([top], `chain/l${maxSymlinkHops}`)).toEqual({ found: false, errno: 'ELOOP' });
  });

  it('reads no directory, and nothing under a file', async () => {
    await tree(top, { 'etc/passwd/': '', 'file': 'x' });
    expect(await readImageFile([top], 'etc/passwd')).toBeUndefined();
    expect(await resolveImagePath([top], 'file/passwd')).toEqual({ found: false, errno: 'ENOTDIR' });
  });
});

const asRoot = rootGate();

describe.skipIf(asRoot.reason)(asRoot.title('readImageFile with whiteouts and opaque directories'), () => {
  beforeAll(asRoot.check);
  const whiteout = (dir: string, path: string) => loadFsx().mknod(join(dir, path), S_IFCHR, 0, 0);
  const opaque = (dir: string, path: string) => loadFsx().lsetxattr(join(dir, path), 'trusted.overlay.opaque', Buffer.from('y'));

  it('a whiteout hides the file, or a directory on its path, of the layers below', async () => {
    await tree(base, { 'etc/passwd': 'base\n', 'data/etc/passwd': 'data\n' });
    await tree(top, { 'etc/': '', 'data/': '' });
    whiteout(top, 'etc/passwd');
    whiteout(top, 'data/etc');
    expect(await readImageFile([top, base], 'etc/passwd')).toBeUndefined();
    expect(await readImageFile([top, base], 'data/etc/passwd')).toBeUndefined();
  });

  it('a symlink target is looked up with the whiteouts applied', async () => {
    await tree(base, { 'etc/passwd': 'base\n', 'alt/passwd': 'alt\n' });
    await tree(top, { 'alt/': '' });
    whiteout(top, 'alt/passwd');
    await rm(join(base, 'etc', 'passwd'));
    await symlink('/alt/passwd', join(base, 'etc', 'passwd'));
    expect(await readImageFile([top, base], 'etc/passwd')).toBeUndefined();
  });

  it('an opaque directory hides the same directory of the layers below', async () => {
    await tree(base, { 'etc/passwd': 'base\n', 'etc/group': 'base group\n' });
    await tree(top, { 'etc/group': 'top group\n' });
    opaque(top, 'etc');
    expect(await readImageFile([top, base], 'etc/passwd')).toBeUndefined();
    expect(await readImageFile([top, base], 'etc/group')).toBe('top group\n');
  });

  it('a file in a layer hides a directory of the same name below it', async () => {
    await tree(base, { 'etc/passwd': 'base\n' });
    await tree(top, { 'etc': 'a file\n' });
    expect(await resolveImagePath([top, base], 'etc/passwd')).toEqual({ found: false, errno: 'ENOTDIR' });
  });
});
