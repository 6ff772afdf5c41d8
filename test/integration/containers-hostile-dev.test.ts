/**
 * A /dev that an earlier container prepared (issue 12, "Secure by default"): a named
 * volume or a host directory mounted at /dev may hold symlinks where berth makes its
 * device nodes. Device setup runs before pivot_root, so a runtime that tolerates EEXIST
 * and then chmods the node by its path follows `full -> /host/file` on the host and makes
 * that file mode 0666 (pointed at /etc/shadow, that owns the host). With
 * `null -> ../some-file`, masking would bind that file over /proc/keys and
 * /proc/timer_list, writable (CVE-2025-31133). The host file here stands for /etc/shadow:
 * mode 0600, and it must keep its mode, owner and content.
 */
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { probeImageSpec, setUpContainers, type ContainerHarness } from '../helpers/containers.js';
import { pushImage } from '../helpers/hostile.js';
import type { ImageSpec } from '../helpers/oci-layout.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

const secret = 'root:$6$not-a-real-hash:19000:0:99999:7:::\n';

interface HostFile {
  readonly path: string;
  unchanged(): Promise<void>;
}

describe.skipIf(skip !== undefined)('a prepared /dev: device setup and masking never follow its symlinks', () => {
  let h: ContainerHarness;
  let base: ImageSpec;

  beforeAll(async () => {
    h = await setUpContainers('hostile-dev');
    // setUpContainers builds the probe as <work>/probe.
    base = await probeImageSpec(await readFile(join(h.work, 'probe')));
  });

  afterAll(async () => {
    await h?.cleanup();
  });

  /** A host file with mode 0600 (standing for /etc/shadow) that must stay as it is. */
  async function hostFile(): Promise<HostFile> {
    const path = join(h.work, `shadow-${randomBytes(6).toString('hex')}`);
    await writeFile(path, secret, { mode: 0o600 });
    await chmod(path, 0o600);
    const before = await lstat(path);
    return {
      path,
      async unchanged() {
        const after = await lstat(path);
        expect((after.mode & 0o7777).toString(8), `mode of ${path}`).toBe('600');
        expect([after.uid, after.gid]).toEqual([before.uid, before.gid]);
        expect(await readFile(path, 'utf8')).toBe(secret);
      },
    };
  }

  /** Writes `links` (name -> target) into a fresh named volume from a container. */
  async function preparedVolume(links: Readonly<Record<string, string>>): Promise<string> {
    const volume = `devvol-${randomBytes(6).toString('hex')}`;
    const script = Object.entries(links).map(([name, target]) => `ln -s '${target}' '/data/${name}'`).join(' && ');
    await h.berthOk(['run', '--rm', '-v', `${volume}:/data`, h.image, 'sh', '-c', script]);
    return volume;
  }

  it('a named volume at /dev holding full -> a host file: the host file keeps its mode and content', async () => {
    const file = await hostFile();
    const volume = await preparedVolume({ full: file.path });
    const result = await h.berth(['run', '--rm', '-v', `${volume}:/dev`, h.image, '/probe', '/dev/full'], { timeoutMs: 60_000 });
    const output = `exit ${result.code}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr}`;
    await file.unchanged();
    // berth replaces the link with the device (or refuses, naming it).
    if (result.code !== 0) {
      expect(result.code, output).toBe(125);
      expect(result.stderr, output).toContain('/dev/full');
    }
  });

  it('a host directory bind-mounted at /dev holding full -> a host file: the host file keeps its mode and content', async () => {
    const file = await hostFile();
    const dir = join(h.work, `devdir-${randomBytes(6).toString('hex')}`);
    await mkdir(dir);
    await symlink(file.path, join(dir, 'full'));
    const result = await h.berth(['run', '--rm', '-v', `${dir}:/dev`, h.image, '/probe', '/dev/full'], { timeoutMs: 60_000 });
    const output = `exit ${result.code}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr}`;
    await file.unchanged();
    if (result.code !== 0) {
      expect(result.code, output).toBe(125);
      expect(result.stderr, output).toContain('/dev/full');
    }
  });

  it('a named volume at /dev holding null -> ../some-file (CVE-2025-31133): /proc/timer_list and /proc/keys are not that file', async () => {
    const file = await hostFile();
    const volume = await preparedVolume({ null: '../some-file' });
    const script = [
      'echo pwned > /proc/timer_list 2>/dev/full',
      'echo pwned > /proc/keys 2>/dev/full',
      'echo "timer_list=$(wc -c < /proc/timer_list)"',
      'echo "keys=$(wc -c < /proc/keys)"',
    ].join('; ');
    const result = await h.berth(['run', '--rm', '-v', `${volume}:/dev`, '-v', `${file.path}:/some-file`, h.image, 'sh', '-c', script], {
      timeoutMs: 60_000,
    });
    const output = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
    await file.unchanged();
    if (result.code === 0) {
      // Masked with the null device: nothing written lands anywhere, nothing is read back.
      expect(result.stdout, output).toContain('timer_list=0');
      expect(result.stdout, output).toContain('keys=0');
    } else {
      expect(result.code, output).toBe(125);
      expect(result.stderr, output).toContain('/dev/null');
    }
  });

  it('masks only with the null device: a /dev/null that is another device is refused with exit 125, naming it (CVE-2025-31133)', async () => {
    // --device puts the zero device at /dev/null: bound over /proc/keys, it would read
    // zeros forever. runc checks the node it masks with since the CVE; berth too.
    const result = await h.berth(['run', '--rm', '--device', '/dev/zero:/dev/null', h.image, 'sh', '-c', 'head -c 8 /proc/keys | wc -c'], {
      timeoutMs: 60_000,
    });
    const output = `exit ${result.code}\nstdout: ${result.stdout}\nstderr: ${result.stderr}`;
    expect(result.code, output).toBe(125);
    expect(result.stderr, output).toContain('`/dev/null` is not the null device');
  });

  it('an image with /proc -> /vol/p and a prepared volume at /vol: berth writes oom_score_adj only to procfs (CVE-2025-52881)', async () => {
    const name = `procvol-${randomBytes(6).toString('hex')}`;
    const image = await pushImage(h, name, {
      ...base,
      layers: [...base.layers, { createdBy: 'proc is a symlink into a volume', entries: [
        { type: 'dir', path: 'vol' },
        { type: 'dir', path: 'vol/p' },
        { type: 'symlink', path: 'proc', target: '/vol/p' },
      ] }],
    });
    const dir = join(h.work, `procdir-${randomBytes(6).toString('hex')}`);
    await mkdir(join(dir, 'p', 'self'), { recursive: true });
    const fake = join(dir, 'p', 'self', 'oom_score_adj');
    await writeFile(fake, 'untouched\n');
    const result = await h.berth(['run', '--rm', '-v', `${dir}:/vol`, image, '/probe'], { timeoutMs: 60_000 });
    const output = `exit ${result.code}\nstdout: ${result.stdout.slice(0, 2000)}\nstderr: ${result.stderr}`;
    expect(await readFile(fake, 'utf8'), output).toBe('untouched\n');
    expect(result.code, output).toBe(125);
    expect(result.stderr, output).toContain('`/proc` is not procfs');
  });
});
