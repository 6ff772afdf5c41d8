/**
 * CVE-2021-41091 (moby): store directories that let unprivileged host users reach the
 * files of layers, containers and volumes (setuid binaries among them). Even in a store
 * root that its owner made readable by everyone, nothing under it that holds a container's
 * data may be reachable by another user: not the metadata database (every container's
 * environment is in it), not a layer, a writable layer or a volume.
 */
import { chmod, lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

/** What a user who is neither the owner nor in the group can reach under `root`: readable files and listable directories. */
async function reachableByOthers(root: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (dir: string): Promise<void> => {
    for (const name of await readdir(dir)) {
      const path = join(dir, name);
      const st = await lstat(path);
      if (st.isSymbolicLink()) continue;
      if (st.isDirectory()) {
        if ((st.mode & 0o004) !== 0) out.push(`${path} (listable)`);
        // Only a directory others may enter leads them further.
        if ((st.mode & 0o001) !== 0) await walk(path);
      } else if ((st.mode & 0o004) !== 0) {
        out.push(path);
      }
    }
  };
  await walk(root);
  return out;
}

describe.skipIf(skip !== undefined)('the store\'s modes', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('modes');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  it('keeps the database, layers, containers and volumes from other users in a store root open to all', async ({ expect }) => {
    // As an administrator might make it (`mkdir /srv/berth`): 0755.
    await chmod(h.root, 0o755);
    const id = (await h.berthOk(['run', '-d', '--network', 'none', '-e', 'SECRET=hunter2', '-v', 'modes-vol:/data', h.image, 'sh', '-c', 'echo x > /data/f; sleep 100'])).stdout.trim();
    try {
      await h.berthOk(['exec', id, 'true']);
      const reachable = (await reachableByOthers(h.root)).filter((p) => !p.endsWith('/config.json') || p !== join(h.root, 'config.json'));
      expect(reachable).toEqual([]);
    } finally {
      await h.removeQuietly(id);
      await h.berth(['volume', 'rm', 'modes-vol']);
    }
  });
});
