/**
 * The launcher on PATH (bin/launcher.c): it keeps NODE_EXTRA_CA_CERTS from Node's own
 * start-up, yet berth and what it starts see the variable as the user set it.
 */
import { afterAll, beforeAll, describe, it } from 'vitest';
import { join } from 'node:path';
import { copyFile, writeFile } from 'node:fs/promises';
import { berthBin } from '../helpers/berth.js';
import { run } from '../helpers/exec.js';
import { setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

describe.skipIf(skip !== undefined)('the berth launcher', () => {
  let h: ContainerHarness;

  beforeAll(async () => {
    h = await setUpContainers('launcher');
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  it.concurrent('keeps NODE_EXTRA_CA_CERTS from Node: no start-up warning for a file that cannot be read', async ({ expect }) => {
    const missing = join(h.work, 'no-such-ca.pem');
    const result = await h.berth(['--version'], { env: { NODE_EXTRA_CA_CERTS: missing } });
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('0.1.0\n');
    // Node itself warns "Ignoring extra certs from ..." when it loads the file at start-up.
    expect(result.stderr).toBe('');
  });

  it.concurrent('passes NODE_EXTRA_CA_CERTS on unchanged, and nothing of its own', async ({ expect }) => {
    const ca = join(h.work, 'extra-ca.pem');
    await writeFile(ca, '');
    const result = await h.berth(
      ['run', '--rm', '-e', 'NODE_EXTRA_CA_CERTS', '-e', '_BERTH_NODE_EXTRA_CA_CERTS', h.image, 'sh', '-c', 'echo "$NODE_EXTRA_CA_CERTS|${_BERTH_NODE_EXTRA_CA_CERTS-unset}"'],
      { env: { NODE_EXTRA_CA_CERTS: ca } },
    );
    expect(result.stderr).toBe('');
    expect(result.stdout).toBe(`${ca}|unset\n`);
    expect(result.code).toBe(0);
  });

  it.concurrent('says what is wrong, with exit 125, when it is not in a checkout', async ({ expect }) => {
    const stray = join(h.work, 'berth');
    await copyFile(berthBin, stray);
    // Any other exit status rejects.
    const result = await run(stray, ['--version'], { okCodes: [125] });
    expect(result.stderr).toBe(`Error: berth's launcher is at ${stray}, not in a checkout's dist/native/\n`);
  });
});
