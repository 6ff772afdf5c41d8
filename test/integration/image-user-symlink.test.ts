/**
 * `-u NAME` is resolved against the image's /etc/passwd as the container sees it (issue
 * 12, "Secure by default"). An image whose /etc is an absolute symlink to "/etc" once made
 * berth read the host's passwd (readImageFile followed the symlink on the host): `-u
 * daemon` then ran the container as the host's daemon uid. Inside the container /etc ->
 * /etc is a loop, so the name must be unknown, with docker's message.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { busyboxImage } from '../helpers/fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { pushLayout } from '../helpers/push.js';
import { checkPrerequisites } from '../helpers/require.js';
import type { TarEntry } from '../helpers/tar.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo'] });

describe.skipIf(skip !== undefined)('an image whose /etc is a symlink', () => {
  let h: ContainerHarness;
  let layout: string;
  let loop: string;
  let moved: string;
  /** A user in the host's passwd that busybox's passwd lacks. */
  let hostUser: string;

  beforeAll(async () => {
    const hostPasswd = await readFile('/etc/passwd', 'utf8');
    const candidates = ['daemon', '_apt', 'bin', 'sys'];
    const found = candidates.find((name) => hostPasswd.split('\n').some((line) => line.startsWith(`${name}:`)));
    if (found === undefined) throw new Error(`the host's /etc/passwd has none of ${candidates.join(', ')}`);
    hostUser = found;
    h = await setUpContainers('usersymlink');
    layout = await mkdtemp(join(tmpdir(), 'berth-usersymlink-'));
    const busybox = await busyboxImage();
    const base = busybox.layers[0];
    if (base === undefined) throw new Error('busyboxImage has no layer');
    const withoutEtc = base.entries.filter((e) => e.path !== 'etc' && !e.path.startsWith('etc/'));
    const etcEntries = base.entries.filter((e) => e.path.startsWith('etc/'));
    const loopLayer: TarEntry[] = [...withoutEtc, { type: 'symlink', path: 'etc', target: '/etc' }];
    // The same passwd and group, reached through an absolute symlink inside the image, plus a user of its own.
    const movedLayer: TarEntry[] = [
      ...withoutEtc,
      { type: 'dir', path: 'data' },
      { type: 'dir', path: 'data/etc' },
      ...etcEntries.map((e): TarEntry => (e.type === 'file' && e.path === 'etc/passwd'
        ? { ...e, path: 'data/etc/passwd', content: `${String(e.content)}imageuser:x:4242:4242::/:/bin/sh\n` }
        : { ...e, path: `data/${e.path}` })),
      { type: 'symlink', path: 'etc', target: '/data/etc' },
    ];
    await writeOciLayout(layout, {
      loop: { ...busybox, layers: [{ ...base, entries: loopLayer }] },
      moved: { ...busybox, layers: [{ ...base, entries: movedLayer }] },
    });
    await pushLayout(layout, h.registry.host, 'berth-test/usersymlink', 'loop');
    await pushLayout(layout, h.registry.host, 'berth-test/usersymlink', 'moved');
    loop = `${h.registry.host}/berth-test/usersymlink:loop`;
    moved = `${h.registry.host}/berth-test/usersymlink:moved`;
    await h.berthOk(['pull', loop]);
    await h.berthOk(['pull', moved]);
  });

  afterAll(async () => {
    await h?.cleanup();
    if (layout !== undefined) await rm(layout, { recursive: true, force: true });
  });

  it('etc -> /etc: a user only the host has is unknown, not the host\'s uid', async ({ expect }) => {
    const result = await h.berth(['run', '--rm', '--network', 'none', '-u', hostUser, loop, 'id', '-u']);
    expect(result.stdout).toBe('');
    expect(result.stderr).toContain(`Unable to find user "${hostUser}": no matching entries in passwd file`);
    expect(result.code).toBe(125);
  });

  it('etc -> /data/etc: the image\'s own users resolve through the symlink, the host\'s do not', async ({ expect }) => {
    const ok = await h.berth(['run', '--rm', '--network', 'none', '-u', 'imageuser', moved, 'id', '-u']);
    expect(ok.stderr).toBe('');
    expect(ok.stdout).toBe('4242\n');
    const unknown = await h.berth(['run', '--rm', '--network', 'none', '-u', hostUser, moved, 'id', '-u']);
    expect(unknown.stderr).toContain(`Unable to find user "${hostUser}": no matching entries in passwd file`);
    expect(unknown.code).toBe(125);
  });

  it('exec -u resolves inside the running container too', async ({ expect }) => {
    const id = (await h.berthOk(['run', '-d', '--network', 'none', moved, 'sleep', '60'])).stdout.trim();
    try {
      expect((await h.berthOk(['exec', '-u', 'imageuser', id, 'id', '-u'])).stdout).toBe('4242\n');
      const unknown = await h.berth(['exec', '-u', hostUser, id, 'id', '-u']);
      expect(unknown.stdout).toBe('');
      expect(unknown.stderr).toContain(`Unable to find user "${hostUser}": no matching entries in passwd file`);
      expect(unknown.code).not.toBe(0);
    } finally {
      await h.removeQuietly(id);
    }
  });
});
