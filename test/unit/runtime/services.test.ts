import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { NotFoundError } from '../../../common/errors.js';
import type { ImageRecord } from '../../../image/index.js';
import { resolveImage, Services } from '../../../runtime/index.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-services-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('Services', () => {
  it('takes the root from its option, else BERTH_ROOT, and the run root from BERTH_RUN_ROOT', () => {
    const env = { BERTH_ROOT: join(dir, 'env'), BERTH_RUN_ROOT: join(dir, 'run') };
    expect(new Services({ root: join(dir, 'opt'), env, berthProgram: ['berth'] }).layout.root).toBe(join(dir, 'opt'));
    const services = new Services({ env, berthProgram: ['berth'] });
    expect(services.layout.root).toBe(join(dir, 'env'));
    expect(services.layout.runRoot).toBe(join(dir, 'run'));
  });

  it('touches nothing until a service is used, and opens the database once', async () => {
    const root = join(dir, 'store');
    const services = new Services({ root, env: {}, berthProgram: ['berth'] });
    expect(services.layout.root).toBe(root);
    expect(existsSync(root)).toBe(false);
    try {
      expect(services.db()).toBe(services.db());
      expect(services.engine().list()).toEqual([]);
      expect(existsSync(services.layout.database())).toBe(true);
    } finally {
      services.close();
    }
  });

  it('warns of an extra CA file it cannot read and makes the registry client without it', async () => {
    const warnings: string[] = [];
    const missing = join(dir, 'no-such-ca.pem');
    const services = new Services({ root: join(dir, 'store'), env: { NODE_EXTRA_CA_CERTS: missing, BERTH_AUTH_FILE: join(dir, 'auth.json') }, berthProgram: ['berth'], onWarning: (m) => warnings.push(m) });
    try {
      await services.registry();
      expect(warnings).toEqual([expect.stringMatching(new RegExp(`^Ignoring extra certs from \`${missing}\`, load failed: ENOENT`))]);
    } finally {
      services.close();
    }
  });
});

describe('resolveImage', () => {
  const image = { id: 'sha256:aa' } as ImageRecord;
  const here = (names: string[]) => ({
    find: (name: string): ImageRecord => {
      if (names.includes(name)) return image;
      throw new NotFoundError(`No such image: ${name}`);
    },
  });
  const pulls: string[] = [];
  const pull = async (name: string): Promise<string> => {
    pulls.push(name);
    return 'pulled';
  };
  beforeEach(() => {
    pulls.length = 0;
  });

  it('pulls a missing image with policy missing, and not one that is here', async () => {
    expect(await resolveImage(here(['busybox']), 'busybox', { policy: 'missing', pull })).toBe(image);
    expect(await resolveImage(here(['pulled']), 'busybox', { policy: 'missing', pull })).toBe(image);
    expect(pulls).toEqual(['busybox']);
  });

  it('pulls first with policy always, and never with policy never', async () => {
    expect(await resolveImage(here(['busybox', 'pulled']), 'busybox', { policy: 'always', pull })).toBe(image);
    expect(pulls).toEqual(['busybox']);
    await expect(resolveImage(here([]), 'busybox', { policy: 'never', pull })).rejects.toMatchObject({
      message: 'No such image: busybox', hint: 'Pull it with "berth pull busybox"',
    });
    expect(pulls).toEqual(['busybox']);
  });

  it('finds only what is here without a puller, whatever the policy', async () => {
    await expect(resolveImage(here([]), 'busybox', { policy: 'always' })).rejects.toThrow('No such image: busybox');
    expect(await resolveImage(here(['busybox']), 'busybox', { policy: 'always' })).toBe(image);
  });
});
