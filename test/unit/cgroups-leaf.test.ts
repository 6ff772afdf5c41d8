/**
 * CgroupManager on trees of plain directories and files standing in for cgroupfs
 * (STYLE.md §6). Unlike cgroupfs, mkdir makes no control files, so a file that cgroupfs
 * would have is written here only when berth writes it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CgroupManager, type HostLayout, type V1Hierarchy } from '../../cgroups/index.js';
import { AlreadyExistsError, InvalidArgumentError, NotFoundError, RequiresRootError, UnsupportedError } from '../../common/errors.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'berth-cgroups-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function v1(name: string): V1Hierarchy {
  const mountPoint = join(dir, name);
  mkdirSync(mountPoint);
  return { mountPoint, root: '/', name, controllers: name.split(','), noPrefix: false };
}

function unified(name: string, controllers: string, subtreeControl = ''): { mountPoint: string; root: string } {
  const mountPoint = join(dir, name);
  mkdirSync(mountPoint);
  writeFileSync(join(mountPoint, 'cgroup.controllers'), `${controllers}\n`);
  writeFileSync(join(mountPoint, 'cgroup.subtree_control'), subtreeControl);
  return { mountPoint, root: '/' };
}

const read = (...path: string[]): string => readFileSync(join(dir, ...path), 'utf8');

describe('CgroupManager on cgroup v1 and hybrid trees', () => {
  let layout: HostLayout;
  beforeEach(() => {
    const cpuset = v1('cpuset');
    writeFileSync(join(cpuset.mountPoint, 'cpuset.cpus'), '0-3\n');
    writeFileSync(join(cpuset.mountPoint, 'cpuset.mems'), '0\n');
    layout = { mode: 'hybrid', v1: [cpuset, v1('cpu,cpuacct'), v1('memory')], unified: unified('unified', 'hugetlb') };
  });

  it('makes the leaf in every hierarchy, cgroup2 included, and names its procs files and join targets', async () => {
    const cgroup = await new CgroupManager({ parent: '/berth', layout }).create('c0ffee');
    expect(cgroup.id).toBe('c0ffee');
    expect(cgroup.paths).toEqual({
      cpuset: join(dir, 'cpuset/berth/c0ffee'),
      'cpu,cpuacct': join(dir, 'cpu,cpuacct/berth/c0ffee'),
      memory: join(dir, 'memory/berth/c0ffee'),
      unified: join(dir, 'unified/berth/c0ffee'),
    });
    expect(cgroup.procsFiles()).toEqual(Object.values(cgroup.paths).map((p) => join(p, 'cgroup.procs')));
    // The helper joins v1 through `tasks` and is cloned into the cgroup2 leaf.
    expect(cgroup.joinTargets()).toEqual({
      tasks: ['cpuset', 'cpu,cpuacct', 'memory'].map((h) => join(dir, h, 'berth/c0ffee/tasks')),
      cgroup2: join(dir, 'unified/berth/c0ffee'),
      v1Devices: false,
    });
    for (const path of Object.values(cgroup.paths)) expect(existsSync(path)).toBe(true);
  });

  it('copies cpuset.cpus and cpuset.mems from the root to a new parent, and from the parent to the leaf', async () => {
    await new CgroupManager({ parent: '/berth/nested', layout }).create('web');
    for (const level of ['berth', 'berth/nested', 'berth/nested/web']) {
      expect([read('cpuset', level, 'cpuset.cpus'), read('cpuset', level, 'cpuset.mems')]).toEqual(['0-3', '0']);
    }
  });

  it("keeps a parent's cpuset when it is already set, and uses noprefix file names when mounted so", async () => {
    mkdirSync(join(dir, 'cpuset', 'berth'));
    writeFileSync(join(dir, 'cpuset', 'berth', 'cpuset.cpus'), '2\n');
    await new CgroupManager({ parent: '/berth', layout }).create('web');
    expect(read('cpuset', 'berth', 'cpuset.cpus')).toBe('2\n');
    expect(read('cpuset', 'berth', 'web', 'cpuset.cpus')).toBe('2');

    const android = { ...v1('cpuset2'), controllers: ['cpuset'], noPrefix: true };
    writeFileSync(join(android.mountPoint, 'cpus'), '0-7\n');
    await new CgroupManager({ parent: '/berth', layout: { mode: 'v1', v1: [android], unified: undefined } }).create('web');
    expect(read('cpuset2', 'berth', 'web', 'cpus')).toBe('0-7');
  });

  it('fills in a parent whose cpuset is empty (made by hand, or by a create cut short)', async () => {
    mkdirSync(join(dir, 'cpuset', 'berth'));
    writeFileSync(join(dir, 'cpuset', 'berth', 'cpuset.cpus'), '\n');
    await new CgroupManager({ parent: '/berth', layout }).create('web');
    expect([read('cpuset', 'berth', 'cpuset.cpus'), read('cpuset', 'berth', 'web', 'cpuset.cpus')]).toEqual(['0-3', '0-3']);
  });

  it('makes a missing parent again in the hierarchies that lack it', async () => {
    // Without cpuset: here its leaf would hold plain files, which rmdir cannot remove.
    const manager = new CgroupManager({ parent: '/berth', layout: { ...layout, v1: layout.v1.slice(1) } });
    await (await manager.create('one')).remove();
    rmdirSync(join(dir, 'memory', 'berth'));
    const cgroup = await manager.create('two');
    for (const path of Object.values(cgroup.paths)) expect(existsSync(path)).toBe(true);
  });

  it('enables no cgroup2 controller when the hybrid cgroup2 has none berth needs', async () => {
    await new CgroupManager({ parent: '/berth', layout }).create('web');
    expect(read('unified', 'cgroup.subtree_control')).toBe('');
    expect(existsSync(join(dir, 'unified', 'berth', 'cgroup.subtree_control'))).toBe(false);
  });

  it('refuses a leaf that exists in any hierarchy, and removes the leaves it made', async () => {
    mkdirSync(join(dir, 'unified', 'berth', 'web'), { recursive: true });
    // Without cpuset: here its leaf would hold plain files, which rmdir cannot remove.
    const manager = new CgroupManager({ parent: '/berth', layout: { ...layout, v1: layout.v1.slice(1) } });
    await expect(manager.create('web')).rejects.toThrowError(AlreadyExistsError);
    for (const name of ['cpu,cpuacct', 'memory']) {
      expect(existsSync(join(dir, name, 'berth', 'web'))).toBe(false);
      expect(existsSync(join(dir, name, 'berth'))).toBe(true);
    }
  });

  it('says what to do when a hierarchy is not mounted', async () => {
    const gone = { ...v1('memory2'), mountPoint: join(dir, 'absent') };
    const manager = new CgroupManager({ parent: '/berth', layout: { mode: 'v1', v1: [gone], unified: undefined } });
    await expect(manager.create('web')).rejects.toThrowError(UnsupportedError);
  });

  it('says to run as root when the hierarchy is not writable', async () => {
    const memory = v1('memory3');
    rmdirSync(memory.mountPoint);
    mkdirSync(memory.mountPoint, { mode: 0o555 });
    const manager = new CgroupManager({ parent: '/berth', layout: { mode: 'v1', v1: [memory], unified: undefined } });
    // Root passes permission checks; an immutable directory refuses even root (EPERM).
    const root = process.geteuid?.() === 0;
    if (root) execFileSync('chattr', ['+i', memory.mountPoint]);
    try {
      await expect(manager.create('web')).rejects.toThrowError(RequiresRootError);
    } finally {
      if (root) execFileSync('chattr', ['-i', memory.mountPoint]);
    }
  });
});

describe('CgroupManager on cgroup v2 trees', () => {
  it('enables the controllers berth needs that the root offers, down to the parent', async () => {
    const root = unified('cg2', 'cpuset cpu io memory hugetlb pids rdma misc', 'cpu memory pids\n');
    const manager = new CgroupManager({ parent: '/berth', layout: { mode: 'v2', v1: [], unified: root } });
    const cgroup = await manager.create('web');
    expect(cgroup.paths).toEqual({ unified: join(dir, 'cg2', 'berth', 'web') });
    expect(read('cg2', 'cgroup.subtree_control')).toBe('+io +cpuset');
    expect(read('cg2', 'berth', 'cgroup.subtree_control')).toBe('+cpu +memory +pids +io +cpuset');
    // The leaf holds the processes; it enables nothing below itself.
    expect(existsSync(join(dir, 'cg2', 'berth', 'web', 'cgroup.subtree_control'))).toBe(false);
  });

  it('enables the controllers again in an existing parent that lacks some', async () => {
    const root = unified('cg2', 'cpu memory pids', 'cpu memory pids\n');
    mkdirSync(join(root.mountPoint, 'berth'));
    writeFileSync(join(root.mountPoint, 'berth', 'cgroup.subtree_control'), 'memory\n');
    await new CgroupManager({ parent: '/berth', layout: { mode: 'v2', v1: [], unified: root } }).create('web');
    expect(read('cg2', 'berth', 'cgroup.subtree_control')).toBe('+cpu +pids');
  });

  it('skips controllers the root lacks and writes nothing where all are enabled', async () => {
    const root = unified('cg2', 'memory pids', 'memory pids\n');
    mkdirSync(join(root.mountPoint, 'berth'));
    writeFileSync(join(root.mountPoint, 'berth', 'cgroup.subtree_control'), 'memory pids\n');
    await new CgroupManager({ parent: '/berth', layout: { mode: 'v2', v1: [], unified: root } }).create('web');
    expect(read('cg2', 'cgroup.subtree_control')).toBe('memory pids\n');
    expect(read('cg2', 'berth', 'cgroup.subtree_control')).toBe('memory pids\n');
  });
});

describe('ContainerCgroup', () => {
  let manager: CgroupManager;
  beforeEach(() => {
    const layout: HostLayout = { mode: 'hybrid', v1: [v1('memory'), v1('pids')], unified: unified('unified', '') };
    manager = new CgroupManager({ parent: '/berth', layout });
  });

  it('lists the processes of every hierarchy and of cgroups below the leaf, once each', async () => {
    const cgroup = await manager.create('web');
    writeFileSync(join(cgroup.paths['memory'] ?? '', 'cgroup.procs'), '12\n34\n');
    mkdirSync(join(cgroup.paths['unified'] ?? '', 'sub'));
    writeFileSync(join(cgroup.paths['unified'] ?? '', 'sub', 'cgroup.procs'), '34\n5\n');
    expect(await cgroup.pids()).toEqual([5, 12, 34]);
  });

  it('removes the leaves and cgroups below them, keeps the parent, and may run again', async () => {
    const cgroup = await manager.create('web');
    mkdirSync(join(cgroup.paths['pids'] ?? '', 'child', 'grandchild'), { recursive: true });
    await cgroup.remove();
    for (const path of Object.values(cgroup.paths)) expect(existsSync(path)).toBe(false);
    expect(existsSync(join(dir, 'memory', 'berth'))).toBe(true);
    await cgroup.remove();
    expect(await cgroup.pids()).toEqual([]);
  });

  it('is found again by id, even when a removal stopped half way', async () => {
    const created = await manager.create('web');
    rmdirSync(created.paths['memory'] ?? '');
    const attached = await manager.attach('web');
    expect(attached.paths).toEqual(created.paths);
    await attached.remove();
    await expect(manager.attach('web')).rejects.toThrowError(NotFoundError);
  });
});

describe('names', () => {
  const layout: HostLayout = { mode: 'v2', v1: [], unified: { mountPoint: '/nonexistent', root: '/' } };

  it('gives the OCI cgroupsPath', () => {
    expect(new CgroupManager({ parent: '/berth', layout }).cgroupPathFor('4f2a9c')).toBe('/berth/4f2a9c');
    expect(new CgroupManager({ parent: '/machine.slice/berth', layout }).cgroupPathFor('web_1.a-b')).toBe('/machine.slice/berth/web_1.a-b');
  });

  it('rejects ids that are not one safe path component', async () => {
    const manager = new CgroupManager({ parent: '/berth', layout });
    for (const id of ['', '.', '..', '../x', 'a/b', '-x', '.hidden', 'a b', 'x'.repeat(256), 'é']) {
      expect(() => manager.cgroupPathFor(id)).toThrowError(InvalidArgumentError);
      await expect(manager.create(id)).rejects.toThrowError(InvalidArgumentError);
      await expect(manager.attach(id)).rejects.toThrowError(InvalidArgumentError);
    }
  });

  it('rejects parents that are not absolute paths below the root', () => {
    for (const parent of ['', '/', 'berth', '/berth/', '//berth', '/a/../b', '/a/./b', '/..']) {
      expect(() => new CgroupManager({ parent, layout })).toThrowError(InvalidArgumentError);
    }
  });
});
