/**
 * As safe as runc against hostile images: each case is an image whose layer tar holds
 * symlinks that point out of the rootfs, at a host directory made for the test (the
 * canary, /tmp/berth-canary-<hex>), pulled through the registry like any image and run
 * with `berth run --rm`. Whatever berth mounts or creates for the container (proc, /dev,
 * /sys, its own /etc files, -v, --tmpfs, -w, the image's WORKDIR) must resolve inside the
 * container's rootfs (berth-helper resolves with openat2 RESOLVE_IN_ROOT): the host
 * canary must stay unchanged with nothing mounted at or under it. The container may then
 * work (the mount or directory lands inside its own rootfs, at the path the symlink names
 * there) or be refused with exit 125 and a message naming the path; both are accepted.
 *
 * Every case runs twice: with the symlink's target absent from the image (a runtime that
 * followed the link on the host would create it in the canary) and present in the image
 * (the runtime can follow the link inside the rootfs and work).
 *
 * Also: a device node the image ships cannot be opened (devices cgroup), a uid above
 * 2^31-1 is refused, and `berth exec`'s helper runs from a sealed memfd,
 * so a container cannot overwrite berth-helper on disk through /proc/PID/exe
 * (CVE-2019-5736).
 */
import { createHash, randomBytes } from 'node:crypto';
import { constants as fsConstants } from 'node:fs';
import { mkdir, open, readdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, type ExpectStatic } from 'vitest';
import type { ImageExecConfig } from '../../oci/index.js';
import { repoRoot } from '../helpers/berth.js';
import { parseProbe, probeImageSpec, setUpContainers, sleep, type ContainerHarness, type ProbeReport } from '../helpers/containers.js';
import { makeCanary, pushImage, type Canary } from '../helpers/hostile.js';
import type { ImageSpec } from '../helpers/oci-layout.js';
import { checkPrerequisites } from '../helpers/require.js';
import type { TarEntry } from '../helpers/tar.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo', 'cc'] });

/** More `..` than any store path has components: from any rootfs this climbs to the host's /. */
const climb = '../'.repeat(24);

/** The helper berth runs (runtime/native.ts finds dist/native next to the bundle). */
const helperOnDisk = join(repoRoot, 'dist', 'native', 'berth-helper');

/** The last mount on a path (the one that shows). */
function mountAt(report: ProbeReport, target: string): ProbeReport['mounts'][number] | undefined {
  return report.mounts.filter((m) => m.target === target).at(-1);
}

/** The canary path without its leading `/`, as a tar entry names it. */
function rel(path: string): string {
  return path.replace(/^\/+/, '');
}

/** One hostile image and what a container of it may do. */
interface HostileCase {
  readonly title: string;
  /** The crafted layer on top of the probe image; `c` is the canary's absolute path. */
  readonly layer: (c: string) => TarEntry[];
  /** What the symlinks point at, made inside the image for the "present" variant. */
  readonly present: (c: string) => TarEntry[];
  readonly config?: (c: string) => ImageExecConfig;
  /** `berth run` flags; `volume` is a host directory holding a file `marker`. */
  readonly flags?: (c: string, volume: string) => string[];
  /** More paths for the probe to look at. */
  readonly paths?: readonly string[];
  /** Checks when the container ran: what it saw, given the canary path `c`. */
  readonly works: (expect: ExpectStatic, report: ProbeReport, c: string) => void;
  /** The container path a refusal's message must name. */
  readonly names: string;
}

const marker = 'on the host, mounted with -v\n';

const cases: readonly HostileCase[] = [
  {
    title: '/proc is an absolute symlink to the canary',
    layer: (c) => [{ type: 'symlink', path: 'proc', target: c }],
    present: (c) => [{ type: 'dir', path: rel(c) }],
    works: (expect, report, c) => {
      expect(mountAt(report, c)?.fstype).toBe('proc');
      expect(report.pid).toBe(1);
    },
    names: '/proc',
  },
  {
    title: '/dev is an absolute symlink to the canary',
    layer: (c) => [{ type: 'symlink', path: 'dev', target: c }],
    present: (c) => [{ type: 'dir', path: rel(c) }],
    paths: ['/dev/null'],
    works: (expect, report, c) => {
      expect(mountAt(report, c)?.fstype).toBe('tmpfs');
      expect(mountAt(report, `${c}/pts`)?.fstype).toBe('devpts');
      expect(report.paths['/dev/null']).toMatchObject({ exists: true, readable: true, size: 0, writable: true });
    },
    names: '/dev',
  },
  {
    title: '/dev/null is a symlink (in a plain /dev directory) to a canary file',
    layer: (c) => [
      { type: 'dir', path: 'dev' },
      { type: 'symlink', path: 'dev/null', target: `${c}/null` },
    ],
    present: (c) => [
      { type: 'dir', path: rel(c) },
      { type: 'file', path: `${rel(c)}/null`, content: 'the image copy of the canary file\n' },
    ],
    paths: ['/dev/null'],
    works: (expect, report, c) => {
      // berth's /dev tmpfs hides the image's /dev: /dev/null is berth's device (reads nothing).
      expect(mountAt(report, '/dev')?.fstype).toBe('tmpfs');
      expect(report.paths['/dev/null']).toMatchObject({ exists: true, readable: true, size: 0, writable: true });
      expect(report.mounts.filter((m) => m.target.startsWith(c))).toEqual([]);
    },
    names: '/dev/null',
  },
  {
    title: '/etc/hosts, /etc/hostname and /etc/resolv.conf are symlinks to canary files',
    layer: (c) => [
      { type: 'symlink', path: 'etc/hosts', target: `${c}/hosts` },
      { type: 'symlink', path: 'etc/hostname', target: `${c}/hostname` },
      { type: 'symlink', path: 'etc/resolv.conf', target: `${c}/resolv.conf` },
    ],
    present: (c) => [
      { type: 'dir', path: rel(c) },
      { type: 'file', path: `${rel(c)}/hosts`, content: '# the image copy\n' },
      { type: 'file', path: `${rel(c)}/hostname`, content: 'image\n' },
      { type: 'file', path: `${rel(c)}/resolv.conf`, content: '# the image copy\n' },
    ],
    paths: ['/etc/hosts', '/etc/hostname', '/etc/resolv.conf'],
    works: (expect, report, c) => {
      // berth's bind mounts land on the files the links name inside the rootfs.
      for (const file of ['hosts', 'hostname', 'resolv.conf']) expect(mountAt(report, `${c}/${file}`), file).toBeDefined();
      expect(report.paths['/etc/hostname']?.size).toBe(report.hostname.length + 1);
    },
    names: '/etc/',
  },
  {
    title: '/sys is an absolute symlink to the canary',
    layer: (c) => [{ type: 'symlink', path: 'sys', target: c }],
    present: (c) => [{ type: 'dir', path: rel(c) }],
    works: (expect, report, c) => {
      expect(mountAt(report, c)?.fstype).toBe('sysfs');
      expect(['tmpfs', 'cgroup2']).toContain(mountAt(report, `${c}/fs/cgroup`)?.fstype);
    },
    names: '/sys',
  },
  {
    title: '/sys/fs/cgroup is an absolute symlink to the canary',
    layer: (c) => [
      { type: 'dir', path: 'sys' },
      { type: 'dir', path: 'sys/fs' },
      { type: 'symlink', path: 'sys/fs/cgroup', target: c },
    ],
    present: (c) => [{ type: 'dir', path: rel(c) }],
    works: (expect, report, c) => {
      // sysfs on /sys hides the image's /sys/fs/cgroup link: the cgroup mounts go on sysfs's directory.
      expect(mountAt(report, '/sys')?.fstype).toBe('sysfs');
      expect(['tmpfs', 'cgroup2']).toContain(mountAt(report, '/sys/fs/cgroup')?.fstype);
      expect(report.mounts.filter((m) => m.target.startsWith(c))).toEqual([]);
    },
    names: '/sys/fs/cgroup',
  },
  {
    title: '-v HOSTDIR:/data where /data is an absolute symlink to the canary',
    layer: (c) => [{ type: 'symlink', path: 'data', target: c }],
    present: (c) => [{ type: 'dir', path: rel(c) }],
    flags: (_c, volume) => ['-v', `${volume}:/data`],
    paths: ['/data/marker'],
    works: (expect, report, c) => {
      expect(mountAt(report, c)).toBeDefined();
      expect(report.paths['/data/marker']).toMatchObject({ exists: true, readable: true, size: marker.length });
    },
    names: '/data',
  },
  {
    title: '-v HOSTDIR:/data where /data is a relative symlink climbing out (../../…/canary)',
    layer: (c) => [{ type: 'symlink', path: 'data', target: `${climb}${rel(c)}` }],
    present: (c) => [{ type: 'dir', path: rel(c) }],
    flags: (_c, volume) => ['-v', `${volume}:/data`],
    paths: ['/data/marker'],
    works: (expect, report, c) => {
      expect(mountAt(report, c)).toBeDefined();
      expect(report.paths['/data/marker']).toMatchObject({ exists: true, readable: true, size: marker.length });
    },
    names: '/data',
  },
  {
    title: '--tmpfs /scratch where /scratch is a symlink to a missing directory of the canary',
    layer: (c) => [{ type: 'symlink', path: 'scratch', target: `${c}/missing/scratch` }],
    present: (c) => [
      { type: 'dir', path: rel(c) },
      { type: 'dir', path: `${rel(c)}/missing` },
      { type: 'dir', path: `${rel(c)}/missing/scratch` },
    ],
    flags: () => ['--tmpfs', '/scratch'],
    works: (expect, report, c) => {
      expect(mountAt(report, `${c}/missing/scratch`)?.fstype).toBe('tmpfs');
    },
    names: '/scratch',
  },
  {
    title: '-w /work/sub/dir where /work is an absolute symlink to the canary',
    layer: (c) => [{ type: 'symlink', path: 'work', target: c }],
    present: (c) => [{ type: 'dir', path: rel(c) }],
    flags: () => ['-w', '/work/sub/dir'],
    works: (expect, report, c) => {
      // The missing directories were made inside the rootfs, where the link leads there.
      expect(report.cwd).toBe(`${c}/sub/dir`);
    },
    names: '/work',
  },
  {
    title: "the image's WORKDIR leads through a chain of symlinks with .. out of the rootfs",
    // /app -> hop1/../../…/<canary>/wd, hop1 -> hop2, hop2 -> /etc: on the host, /etc/.. and
    // the .. after it climb out of any rootfs; inside it they stop at its root.
    layer: (c) => [
      { type: 'symlink', path: 'hop2', target: '/etc' },
      { type: 'symlink', path: 'hop1', target: 'hop2' },
      { type: 'symlink', path: 'app', target: `hop1/${climb}${rel(c)}/wd` },
    ],
    present: (c) => [
      { type: 'dir', path: rel(c) },
      { type: 'dir', path: `${rel(c)}/wd` },
    ],
    config: () => ({ WorkingDir: '/app/sub' }),
    works: (expect, report, c) => {
      expect(report.cwd).toBe(`${c}/wd/sub`);
    },
    // The first component that cannot be resolved inside the rootfs.
    names: '/app',
  },
];

describe.skipIf(skip !== undefined)('hostile images: nothing on the host is written or mounted', () => {
  let h: ContainerHarness;
  let base: ImageSpec;
  const canaries = new Set<Canary>();
  /** What each case did, printed at the end (the report names which cases berth refuses). */
  const outcomes: string[] = [];

  beforeAll(async () => {
    h = await setUpContainers('hostile');
    // setUpContainers builds the probe as <work>/probe.
    base = await probeImageSpec(await readFile(join(h.work, 'probe')));
  });

  afterAll(async () => {
    for (const canary of canaries) await canary.remove();
    if (outcomes.length > 0) console.info(`hostile image outcomes:\n${outcomes.sort().join('\n')}`);
    await h?.cleanup();
  });

  async function newCanary(): Promise<Canary> {
    const canary = await makeCanary();
    canaries.add(canary);
    return canary;
  }

  for (const c of cases) {
    for (const variant of ['absent', 'present'] as const) {
      it.concurrent(`${c.title}; the target ${variant === 'absent' ? 'is not in' : 'is also in'} the image`, async ({ expect }) => {
        const canary = await newCanary();
        const volume = join(h.work, `volume-${randomBytes(6).toString('hex')}`);
        await mkdir(volume);
        await writeFile(join(volume, 'marker'), marker);
        const entries = [...c.layer(canary.dir), ...(variant === 'present' ? c.present(canary.dir) : [])];
        const name = `hostile-${randomBytes(6).toString('hex')}`;
        const image = await pushImage(h, name, {
          ...base,
          config: { ...base.config, ...c.config?.(canary.dir) },
          layers: [...base.layers, { createdBy: c.title, entries }],
        });
        const result = await h.berth(['run', '--rm', ...(c.flags?.(canary.dir, volume) ?? []), image, '/probe', ...(c.paths ?? [])], { timeoutMs: 60_000 });
        const output = `exit ${result.code}\nstdout: ${result.stdout.slice(0, 3000)}\nstderr: ${result.stderr}`;
        if (result.code === 0) {
          outcomes.push(`works:   ${c.title} (${variant})`);
          c.works(expect, parseProbe(result.stdout), canary.dir);
        } else {
          outcomes.push(`refused: ${c.title} (${variant}): ${result.stderr.trim().split('\n')[0] ?? ''}`);
          expect(result.code, output).toBe(125);
          expect(result.stderr, output).toContain(c.names);
        }
        expect(await canary.problems(), output).toEqual([]);
        // The volume's own content is untouched too.
        expect(await readdir(volume)).toEqual(['marker']);
        expect(await readFile(join(volume, 'marker'), 'utf8')).toBe(marker);
        canaries.delete(canary);
        await canary.remove();
      });
    }
  }

  it.concurrent('a device node the image ships cannot be opened: only the default devices are allowed (devices cgroup)', async ({ expect }) => {
    // /dev/loop-control (10:237): harmless to open, and in no allow list. Docker (runc) puts
    // the container in a devices cgroup that allows only its default devices, so with the
    // default CAP_MKNOD an image (or the container) may make nodes but not open them.
    const name = `hostile-${randomBytes(6).toString('hex')}`;
    const image = await pushImage(h, name, {
      ...base,
      layers: [...base.layers, {
        createdBy: 'a host device node',
        entries: [{ type: 'dir', path: 'hostdev' }, { type: 'char', path: 'hostdev/loop-control', major: 10, minor: 237, mode: 0o666 }],
      }],
    });
    const result = await h.berth(['run', '--rm', image, '/probe', '/hostdev/loop-control', '/dev/null'], { timeoutMs: 60_000 });
    expect(result.code, result.stderr).toBe(0);
    const report = parseProbe(result.stdout);
    expect(report.paths['/dev/null']).toMatchObject({ readable: true, writable: true });
    expect(report.paths['/hostdev/loop-control']).toMatchObject({
      exists: true, readable: false, readError: 'Operation not permitted', writable: false, writeError: 'Operation not permitted',
    });
  });

  it.concurrent('refuses a uid or gid above 2^31-1 with exit 125, naming the limit', async ({ expect }) => {
    for (const user of ['2147483648', '4294967295', '0:2147483648']) {
      const result = await h.berth(['run', '--rm', '-u', user, h.image, '/probe']);
      expect(result.code, `${user}: ${result.stderr}`).toBe(125);
      expect(result.stderr, user).toContain('2147483647');
      expect(result.stdout, user).toBe('');
    }
  });

  it.concurrent('runs the exec helper from a sealed memfd: /proc/PID/exe cannot be opened for writing, the binary on disk is unchanged', async ({ expect }) => {
    const sha256 = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex');
    const before = await sha256(helperOnDisk);
    await h.withContainer([], ['sleep', '60'], async (id) => {
      const state = (await h.inspect(id))['State'] as { Pid: number };
      const pidNs = await readlink(`/proc/${state.Pid}/ns/pid`);
      const exec = h.berth(['exec', id, 'sleep', '2'], { timeoutMs: 30_000 });
      try {
        // The exec'd sleep: `sleep 2` in the container's pid namespace (the container's own is `sleep 60`).
        let sleeper: number | undefined;
        const deadline = Date.now() + 10_000;
        while (sleeper === undefined && Date.now() < deadline) {
          for (const pid of (await readdir('/proc')).filter((p) => /^\d+$/.test(p))) {
            const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
            if (cmdline !== 'sleep\u00002\u0000') continue;
            if ((await readlink(`/proc/${pid}/ns/pid`).catch(() => '')) === pidNs) sleeper = Number(pid);
          }
          if (sleeper === undefined) await sleep(20);
        }
        expect(sleeper, 'the exec\'d `sleep 2` did not appear').toBeDefined();
        const status = await readFile(`/proc/${sleeper}/status`, 'utf8');
        const helper = Number(/^PPid:\s*(\d+)$/m.exec(status)?.[1]);
        expect(helper).toBeGreaterThan(1);
        const exe = await readlink(`/proc/${helper}/exe`);
        expect(exe.startsWith('/memfd:berth-helper'), `exe of the exec's parent ${helper}: ${exe}`).toBe(true);
        for (const flags of [fsConstants.O_WRONLY, fsConstants.O_RDWR]) {
          const error = await open(`/proc/${helper}/exe`, flags).then(
            async (handle) => {
              await handle.close();
              return undefined;
            },
            (err: unknown) => err as NodeJS.ErrnoException,
          );
          expect(error, `open(/proc/${helper}/exe, ${flags === fsConstants.O_WRONLY ? 'O_WRONLY' : 'O_RDWR'}) succeeded`).toBeDefined();
          expect(['ETXTBSY', 'EPERM', 'EACCES']).toContain(error?.code);
        }
      } finally {
        const result = await exec;
        expect(result.code, result.stderr).toBe(0);
      }
    });
    expect(await sha256(helperOnDisk)).toBe(before);
  });

  it('leaves no container, mount, process or cgroup behind', async () => {
    expect(await h.leftovers()).toEqual([]);
  });
});
