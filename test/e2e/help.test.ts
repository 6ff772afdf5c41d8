/**
 * Help as a user meets it from the built berth: a command's help and berth's exit 0; the
 * help of a command berth lacks is the usage error of that command (exit code 2), not the
 * general help with exit 0 (issue 11).
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthBin } from '../helpers/berth.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { skipReason } from '../helpers/require.js';

const skip = skipReason(existsSync(berthBin) ? [] : ['the built berth (npm run build)']);

describe.skipIf(skip !== undefined)('berth --help', () => {
  let work: string;
  let root: string;

  beforeAll(async () => {
    work = await makeTempDir('berth-help-');
    root = join(work, 'root');
  });

  afterAll(async () => {
    if (work !== undefined) await removeDir(work);
  });

  it('refuses the help of a command berth does not have with exit code 2', async () => {
    for (const name of ['build', 'nosuch']) {
      const result = await berth([name, '--help'], { root });
      expect(result).toEqual({ code: 2, stdout: '', stderr: `error: unknown command '${name}'\n(run "berth --help" for usage)\n` });
    }
  });

  it('refuses an unknown command of a group with --help alike', async () => {
    const result = await berth(['volume', 'nosuch', '-h'], { root });
    expect(result).toEqual({ code: 2, stdout: '', stderr: `error: unknown command 'nosuch'\n(run "berth --help" for usage)\n` });
  });

  it("prints run's help with exit code 0", async () => {
    const result = await berth(['run', '--help'], { root });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: berth run \[options\] <image> \[command\.\.\.\]\n\nCreate and run a new container from an image\n/);
    expect(result.stderr).toBe('');
  });

  it("prints berth's help with exit code 0", async () => {
    const result = await berth(['--help'], { root });
    expect(result.code).toBe(0);
    expect(result.stdout).toMatch(/^Usage: berth \[options\] \[command\]\n\nA container runtime and image tool for Linux\n/);
    expect(result.stdout).toContain('\n  run [options] <image> [command...]');
    expect(result.stderr).toBe('');
  });
});
