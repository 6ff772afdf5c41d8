/**
 * Container cgroups on this host's real hierarchies (v2, v1 or hybrid), under a parent of
 * this run's own (`/berth-test-<pid>-<random>`) so that parallel runs cannot collide. A
 * `sleep` started here stands in for the native helper and joins the leaf the way the
 * helper does, through the cgroup.procs files. The test touches no cgroup it did not create
 * and moves no process it did not start; afterAll removes everything it made.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { mkdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CgroupManager, readHostLayout, type ContainerCgroup, type HostLayout } from '../../cgroups/index.js';
import { AlreadyExistsError, FailedPreconditionError, NotFoundError, isErrnoError } from '../../common/errors.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['sleep'] });

/** /proc/<pid>/cgroup as hierarchy name (`memory`, `cpu,cpuacct`, `""` for cgroup2) → path. */
async function cgroupsOf(pid: number | 'self'): Promise<Map<string, string>> {
  const text = await readFile(`/proc/${pid}/cgroup`, 'utf8');
  const lines = text.split('\n').filter((line) => line !== '');
  return new Map(lines.map((line) => {
    const [, controllers = '', ...path] = line.split(':');
    return [controllers, path.join(':')];
  }));
}

describe.skipIf(skip !== undefined)('container cgroups on this host', () => {
  const parent = `/berth-test-${process.pid}-${randomBytes(4).toString('hex')}`;
  let layout: HostLayout;
  let manager: CgroupManager;
  const children: ChildProcess[] = [];
  const made: ContainerCgroup[] = [];
  const mountsOf = (l: HostLayout): { mountPoint: string; root: string }[] => [...l.v1, ...(l.unified === undefined ? [] : [l.unified])];

  async function create(id: string): Promise<ContainerCgroup> {
    const cgroup = await manager.create(id);
    made.push(cgroup);
    return cgroup;
  }

  /** Starts `sleep 30` and moves it into `cgroup`, as the helper moves itself ("0"). */
  async function startIn(cgroup: ContainerCgroup): Promise<ChildProcess & { pid: number }> {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(child);
    await once(child, 'spawn');
    const pid = child.pid;
    if (pid === undefined) throw new Error('sleep has no pid');
    for (const file of cgroup.procsFiles()) await writeFile(file, String(pid));
    return Object.assign(child, { pid });
  }

  async function stop(child: ChildProcess): Promise<void> {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await exited;
  }

  beforeAll(async () => {
    layout = await readHostLayout();
    manager = new CgroupManager({ parent, layout });
  });

  // Runs after failures too: kill the children, remove the leaves, then this run's parent.
  afterAll(async () => {
    if (manager === undefined) return;
    for (const child of children) await stop(child);
    const problems: string[] = [];
    for (const cgroup of made) await cgroup.remove().catch((err: unknown) => problems.push(String(err)));
    for (const mount of mountsOf(layout)) {
      const dir = join(mount.mountPoint, parent);
      await rmdir(dir).catch((err: unknown) => {
        if (!isErrnoError(err, 'ENOENT')) problems.push(String(err));
      });
      if (existsSync(dir)) problems.push(`"${dir}" is left`);
    }
    expect(problems).toEqual([]);
  });

  it('makes a leaf in every hierarchy, which a process joins through the cgroup.procs files', async () => {
    const id = 'c0ffee';
    const cgroup = await create(id);
    expect(Object.keys(cgroup.paths)).toEqual([...layout.v1.map((h) => h.name), ...(layout.unified === undefined ? [] : ['unified'])]);
    expect(manager.cgroupPathFor(id)).toBe(`${parent}/${id}`);

    const before = await cgroupsOf('self');
    const child = await startIn(cgroup);
    const after = await cgroupsOf(child.pid);
    for (const h of layout.v1) expect(after.get(h.name)).toBe(posix.join(h.root, parent, id));
    if (layout.unified !== undefined) expect(after.get('')).toBe(posix.join(layout.unified.root, parent, id));
    // Hierarchies berth does not use (name=systemd) keep the cgroup the process was started in.
    const used = new Set([...layout.v1.map((h) => h.name), ...(layout.unified === undefined ? [] : [''])]);
    for (const [name, path] of before) if (!used.has(name)) expect(after.get(name)).toBe(path);
    expect(await cgroup.pids()).toEqual([child.pid]);

    await stop(child);
    await cgroup.remove();
    for (const dir of Object.values(cgroup.paths)) expect(existsSync(dir)).toBe(false);
    for (const mount of mountsOf(layout)) expect(existsSync(join(mount.mountPoint, parent))).toBe(true);
    expect(await cgroup.pids()).toEqual([]);
  });

  it('gives a v1 cpuset leaf and its parent the cpus and mems of the root', async (ctx) => {
    const cpuset = layout.v1.find((h) => h.controllers.includes('cpuset'));
    // Not a missing prerequisite: a pure cgroup v2 host has no v1 cpuset to copy (this one has).
    if (cpuset === undefined) ctx.skip();
    const prefix = cpuset?.noPrefix === true ? '' : 'cpuset.';
    const cgroup = await create('cpuset-leaf');
    const leaf = cgroup.paths[cpuset?.name ?? ''] ?? '';
    for (const name of ['cpus', 'mems']) {
      const atRoot = (await readFile(join(cpuset?.mountPoint ?? '', `${prefix}${name}`), 'utf8')).trim();
      expect(atRoot).not.toBe('');
      expect((await readFile(join(cpuset?.mountPoint ?? '', parent, `${prefix}${name}`), 'utf8')).trim()).toBe(atRoot);
      expect((await readFile(join(leaf, `${prefix}${name}`), 'utf8')).trim()).toBe(atRoot);
    }
    await cgroup.remove();
  });

  it('enables in the parent the cgroup v2 controllers berth needs that the host offers', async (ctx) => {
    // A pure v1 host has no cgroup2 tree at all (this hybrid one has).
    if (layout.unified === undefined) ctx.skip();
    const mountPoint = layout.unified?.mountPoint ?? '';
    const cgroup = await create('v2-controllers');
    const offered = (await readFile(join(mountPoint, 'cgroup.controllers'), 'utf8')).split(/\s+/);
    const enabled = (await readFile(join(mountPoint, parent, 'cgroup.subtree_control'), 'utf8')).split(/\s+/);
    const wanted = ['cpu', 'memory', 'pids', 'io', 'cpuset'].filter((name) => offered.includes(name));
    expect(enabled).toEqual(expect.arrayContaining(wanted));
    await cgroup.remove();
  });

  it('finds a leaf again by id after a restart, and removes it', async () => {
    const cgroup = await create('restarted');
    const again = await (await CgroupManager.open({ parent })).attach('restarted');
    expect(again.paths).toEqual(cgroup.paths);
    await again.remove();
    await expect(manager.attach('restarted')).rejects.toThrowError(NotFoundError);
  });

  it('refuses a second leaf with the same id and keeps the first', async () => {
    const cgroup = await create('twice');
    await expect(manager.create('twice')).rejects.toThrowError(AlreadyExistsError);
    for (const dir of Object.values(cgroup.paths)) expect(existsSync(dir)).toBe(true);
    await cgroup.remove();
  });

  it('removes a leaf whose last process is still exiting, and the cgroups made below it', async () => {
    const cgroup = await create('exiting');
    for (const dir of Object.values(cgroup.paths)) await mkdir(join(dir, 'inner'));
    const child = await startIn(cgroup);
    const exited = once(child, 'exit');
    child.kill('SIGKILL');
    await cgroup.remove();
    await exited;
    for (const dir of Object.values(cgroup.paths)) expect(existsSync(dir)).toBe(false);
  });

  it('kills the processes still in a leaf and below it when asked to, and removes it', async () => {
    const cgroup = await create('kill');
    const inner = Object.values(cgroup.paths).map((dir) => join(dir, 'inner'));
    for (const dir of inner) await mkdir(dir);
    // A v1 cpuset cgroup takes no process until it has cpus and mems.
    const cpuset = layout.v1.find((h) => h.controllers.includes('cpuset'));
    if (cpuset !== undefined) {
      const prefix = cpuset.noPrefix ? '' : 'cpuset.';
      const leaf = cgroup.paths[cpuset.name] ?? '';
      for (const name of ['cpus', 'mems']) await writeFile(join(leaf, 'inner', `${prefix}${name}`), await readFile(join(leaf, `${prefix}${name}`), 'utf8'));
    }
    const child = await startIn(cgroup);
    // One process in the leaf, another in a cgroup the container made below it.
    const below = spawn('sleep', ['30'], { stdio: 'ignore' });
    children.push(below);
    await once(below, 'spawn');
    for (const dir of inner) await writeFile(join(dir, 'cgroup.procs'), String(below.pid));
    const exits = [once(child, 'exit'), once(below, 'exit')];
    await cgroup.remove({ kill: true });
    await Promise.all(exits);
    expect([child.signalCode, below.signalCode]).toEqual(['SIGKILL', 'SIGKILL']);
    for (const dir of Object.values(cgroup.paths)) expect(existsSync(dir)).toBe(false);
  });

  it('refuses to remove a leaf while a process is in it, and removes it once the process is gone', async () => {
    const cgroup = await create('busy');
    const child = await startIn(cgroup);
    await expect(cgroup.remove()).rejects.toThrowError(FailedPreconditionError);
    expect(await cgroup.pids()).toEqual([child.pid]);
    await stop(child);
    await cgroup.remove();
    for (const dir of Object.values(cgroup.paths)) expect(existsSync(dir)).toBe(false);
  });
});
