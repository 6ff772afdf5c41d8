/**
 * `berth oci` against the runtime spec's MUSTs that the runtime-tools validation suite
 * found missing (issue 12): a bundle's linux.resources are written to its cgroup before its
 * process runs (config-linux.md "resources"); a relative cgroupsPath is taken under berth's
 * own location and an invalid one refused ("Runtimes MAY consider certain cgroupsPath values
 * to be invalid, and MUST generate an error"); a capability the host cannot give is refused
 * at create, as runc refuses it; and a refused create leaves no container behind
 * (runtime.md "create": on error, the container is not created).
 */
import { randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, openSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, it } from 'vitest';
import type { RuntimeSpec } from '../../oci/index.js';
import { allCapabilities } from '../../runtime/defaults.js';
import { hostCapabilities } from '../../runtime/host.js';
import { berthBin } from '../helpers/berth.js';
import { cgroupDirs, removeEmptyCgroup } from '../helpers/cgroups.js';
import { makeTempDir, removeDir } from '../helpers/exec.js';
import { busyboxImage } from '../helpers/fixtures.js';
import { writeOciLayout } from '../helpers/oci-layout.js';
import { checkPrerequisites } from '../helpers/require.js';
import { umociUnpack, type UnpackedRootfs } from '../helpers/rootfs.js';

const skip = checkPrerequisites({ root: true, commands: ['umoci'] });

describe.skipIf(skip !== undefined)('berth oci and the runtime spec', () => {
  const tag = randomBytes(5).toString('hex');
  let work: string;
  let unpacked: UnpackedRootfs;
  const made: string[] = [];

  let calls = 0;
  /**
   * `berth oci ARGS…`, done when berth exits: a created container inherits its stdio, as
   * with runc create, so its output goes to a file rather than a pipe the container would
   * hold open.
   */
  async function oci(args: readonly string[]): Promise<{ code: number; stderr: string }> {
    const out = join(work, `call-${calls++}.err`);
    const fd = openSync(out, 'w');
    try {
      const child = spawn(berthBin, ['--root', join(work, 'store'), 'oci', '--root', join(work, 'state'), ...args], { stdio: ['ignore', fd, fd] });
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      return { code: code ?? 128 + (signal === null ? 0 : 9), stderr: await readFile(out, 'utf8') };
    } finally {
      closeSync(fd);
    }
  }

  function spec(linux: NonNullable<RuntimeSpec['linux']>, process: Partial<NonNullable<RuntimeSpec['process']>> = {}): RuntimeSpec {
    return {
      ociVersion: '1.0.2',
      process: { terminal: false, user: { uid: 0, gid: 0 }, args: ['sleep', '30'], env: ['PATH=/bin'], cwd: '/', ...process },
      root: { path: 'rootfs' },
      hostname: 'conformance',
      mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
      linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }, { type: 'network' }, { type: 'uts' }, { type: 'ipc' }], ...linux },
    } as RuntimeSpec;
  }

  async function bundleWith(config: RuntimeSpec): Promise<string> {
    await writeFile(join(unpacked.bundle, 'config.json'), JSON.stringify(config));
    return unpacked.bundle;
  }

  beforeAll(async () => {
    work = await makeTempDir('oci-conformance');
    const layout = join(work, 'layout');
    await writeOciLayout(layout, { busybox: await busyboxImage() });
    unpacked = await umociUnpack(layout, 'busybox');
  });

  afterAll(async () => {
    for (const id of made) await oci(['delete', '--force', id]).catch(() => undefined);
    for (const rel of [`berth-oci/conf-${tag}/rel`, `berth-oci/conf-${tag}`, 'berth-oci', `conf-abs-${tag}/leaf`, `conf-abs-${tag}`]) await removeEmptyCgroup(rel);
    await unpacked?.remove();
    if (work !== undefined) await removeDir(work);
  });

  it('writes the bundle\'s linux.resources to its cgroup at create, under berth-oci for a relative cgroupsPath', async ({ expect }) => {
    const id = `conf-res-${tag}`;
    made.push(id);
    const bundle = await bundleWith(spec({ cgroupsPath: `conf-${tag}/rel`, resources: { pids: { limit: 42 }, memory: { limit: 64 * 1024 * 1024 } } }));
    const created = await oci(['create', '--bundle', bundle, id]);
    expect(created.code, created.stderr).toBe(0);
    const pids = (await cgroupDirs(`berth-oci/conf-${tag}/rel`)).find((d) => d.includes('/pids/'));
    const memory = (await cgroupDirs(`berth-oci/conf-${tag}/rel`)).find((d) => d.includes('/memory/'));
    expect(pids).toBeDefined();
    expect((await readFile(join(pids ?? '', 'pids.max'), 'utf8')).trim()).toBe('42');
    expect((await readFile(join(memory ?? '', 'memory.limit_in_bytes'), 'utf8')).trim()).toBe(String(64 * 1024 * 1024));
    expect((await oci(['delete', '--force', id])).code).toBe(0);
    expect(await cgroupDirs(`berth-oci/conf-${tag}/rel`)).toEqual([]);
  });

  it('refuses a cgroupsPath right under the root, and one with "..", leaving no container behind', async ({ expect }) => {
    for (const [path, why] of [[`/conf-top-${tag}`, 'directly under the root'], [`conf-${tag}/../../x`, '".."']] as const) {
      const id = `conf-bad-${tag}`;
      const refused = await oci(['create', '--bundle', await bundleWith(spec({ cgroupsPath: path })), id]);
      expect(refused.code).toBe(125);
      expect(refused.stderr).toContain(`Invalid cgroupsPath "${path}"`);
      expect(refused.stderr).toContain(why);
      expect((await oci(['state', id])).stderr).toContain(`container "${id}" does not exist`);
    }
    // Nothing of the refused ones is left: the same id is free.
    const id = `conf-bad-${tag}`;
    made.push(id);
    const created = await oci(['create', '--bundle', await bundleWith(spec({ cgroupsPath: `/conf-abs-${tag}/leaf` })), id]);
    expect(created.code, created.stderr).toBe(0);
    expect((await oci(['delete', '--force', id])).code).toBe(0);
  });

  it('refuses a capability the host cannot give at create; the same id can then be created', async ({ expect }) => {
    const missing = allCapabilities.find((c) => !hostCapabilities().includes(c));
    if (missing === undefined) {
      // A host whose bounding set is full has nothing to refuse (this project's hosts lack CAP_SYS_RESOURCE).
      expect(hostCapabilities()).toHaveLength(allCapabilities.length);
      return;
    }
    const id = `conf-cap-${tag}`;
    const caps = { bounding: [missing], effective: [missing], permitted: [missing] };
    const refused = await oci(['create', '--bundle', await bundleWith(spec({ cgroupsPath: `/conf-abs-${tag}/leaf` }, { capabilities: caps })), id]);
    expect(refused.code).toBe(125);
    expect(refused.stderr).toContain(`process.capabilities.bounding has ${missing}, which this host's bounding set lacks`);
    expect((await oci(['state', id])).stderr).toContain(`container "${id}" does not exist`);
    expect(await cgroupDirs(`conf-abs-${tag}/leaf`)).toEqual([]);
    made.push(id);
    const created = await oci(['create', '--bundle', await bundleWith(spec({ cgroupsPath: `/conf-abs-${tag}/leaf` })), id]);
    expect(created.code, created.stderr).toBe(0);
    expect((await oci(['delete', '--force', id])).code).toBe(0);
  });
});
