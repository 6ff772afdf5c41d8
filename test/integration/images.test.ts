/**
 * The local image commands as a user meets them: images (table, json, -q, --digests), tag,
 * image inspect (docker's shape, GraphDriver), rmi with docker's rules, image prune.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { berth, berthBin, berthOk } from '../helpers/berth.js';
import { makeTempDir, removeDir, run } from '../helpers/exec.js';
import { writeFixtureLayout } from '../helpers/fixtures.js';
import { pushLayout, seedRegistry, type SeededImages } from '../helpers/push.js';
import { startRegistry, type TestRegistry } from '../helpers/registry.js';
import { checkPrerequisites } from '../helpers/require.js';

const skip = checkPrerequisites({ root: true, commands: ['docker-registry', 'skopeo'] });

describe.skipIf(skip !== undefined)('local image commands', () => {
  let registry: TestRegistry;
  let work: string;
  let seeded: SeededImages;
  let root: string;
  let busybox: string;
  let sink: string;

  beforeAll(async () => {
    work = await makeTempDir('berth-images-');
    const layout = join(work, 'layout');
    await writeFixtureLayout(layout, ['busybox', 'kitchen-sink-gzip']);
    registry = await startRegistry();
    seeded = await seedRegistry(registry, layout, { refs: ['busybox', 'kitchen-sink-gzip'] });
    root = join(work, 'store', 'root');
    busybox = seeded['busybox']?.reference ?? '';
    sink = seeded['kitchen-sink-gzip']?.reference ?? '';
    await berthOk(['pull', '-q', busybox], { root });
    await berthOk(['pull', '-q', sink], { root });
  });

  afterAll(async () => {
    await registry?.stop();
    if (work !== undefined) await removeDir(work);
  });

  it('pull -q prints only the reference', async () => {
    const again = await berthOk(['pull', '-q', busybox], { root });
    expect(again.stdout).toBe(`${busybox}\n`);
  });

  it('images shows a docker-style table', async () => {
    const { stdout } = await berthOk(['images'], { root });
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE$/);
    expect(lines).toHaveLength(3);
    expect(stdout).toMatch(new RegExp(`${registry.host}/fixtures/busybox\\s+busybox\\s+[0-9a-f]{12}\\s+\\S.*ago\\s+[0-9.]+[kMG]?B`));
  });

  it('images --format json, -q and --digests', async () => {
    const json = (await berthOk(['images', '--format', 'json'], { root })).stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, string>);
    expect(json.map((r) => r['Tag']).sort()).toEqual(['busybox', 'kitchen-sink-gzip']);
    const quiet = (await berthOk(['images', '-q'], { root })).stdout.trim().split('\n');
    expect(quiet.every((id) => /^[0-9a-f]{12}$/.test(id))).toBe(true);
    const digests = (await berthOk(['images', '--digests'], { root })).stdout;
    expect(digests).toContain('DIGEST');
    expect(digests).toContain(seeded['busybox']?.digest ?? 'missing');
  });

  it('image inspect has docker\'s shape and GraphDriver with existing directories, topmost first', async () => {
    const [doc] = JSON.parse((await berthOk(['image', 'inspect', sink], { root })).stdout) as [Record<string, unknown>];
    expect(Object.keys(doc)).toEqual(expect.arrayContaining(['Id', 'RepoTags', 'RepoDigests', 'Created', 'Config', 'Architecture', 'Os', 'Size', 'GraphDriver', 'RootFS']));
    const graph = doc['GraphDriver'] as { Name: string; Data: { UpperDir: string; LowerDir: string } };
    expect(graph.Name).toBe('overlay2');
    const lowers = graph.Data.LowerDir.split(':');
    expect(lowers).toHaveLength(2);
    for (const dir of [graph.Data.UpperDir, ...lowers]) expect(existsSync(dir)).toBe(true);
    const rootfs = doc['RootFS'] as { Layers: string[] };
    // UpperDir is the top layer (the last diffID), LowerDir the others, topmost first.
    expect(graph.Data.UpperDir).toContain((rootfs.Layers[2] ?? '').slice(7));
    expect(lowers[0]).toContain((rootfs.Layers[1] ?? '').slice(7));
    expect(lowers[1]).toContain((rootfs.Layers[0] ?? '').slice(7));
  });

  it('image inspect of a missing image prints [] and fails with a hint', async () => {
    const result = await berth(['image', 'inspect', 'nothere'], { root });
    expect(result.code).toBe(125);
    expect(result.stdout).toBe('[]\n');
    expect(result.stderr).toBe('Error: No such image: "nothere"\nHint: Pull it with "berth pull nothere", or list local images with "berth images"\n');
  });

  it('tag adds a name; rmi of that name only untags', async () => {
    await berthOk(['tag', busybox, 'mybox:1'], { root });
    expect((await berthOk(['images'], { root })).stdout).toMatch(/mybox\s+1\s/);
    const rmi = await berthOk(['rmi', 'mybox:1'], { root });
    expect(rmi.stdout).toBe('Untagged: mybox:1\n');
  });

  it('rmi by ID refuses an image with names in two repositories, -f removes it and its content', async () => {
    await berthOk(['tag', busybox, 'mybox:2'], { root });
    const id = (await berthOk(['images', '-q', busybox], { root })).stdout.trim();
    const refused = await berth(['rmi', id], { root });
    expect(refused.code).toBe(125);
    expect(refused.stderr).toContain('it is referenced in 2 repositories');
    const forced = await berthOk(['rmi', '-f', id], { root });
    expect(forced.stdout).toMatch(/Untagged: mybox:2\n/);
    expect(forced.stdout).toMatch(/Deleted: sha256:[0-9a-f]{64}\n$/);
    expect((await berthOk(['images', '-q'], { root })).stdout.trim().split('\n')).toHaveLength(1);
  });

  it('rmi of an unknown image fails with exit 125', async () => {
    const result = await berth(['rmi', 'nothere:1'], { root });
    expect(result.code).toBe(125);
    expect(result.stderr).toContain('No such image: "nothere:1"');
  });

  it('image prune -a removes everything and reports the space', async () => {
    const result = await berthOk(['image', 'prune', '-a'], { root });
    expect(result.stdout).toContain('Deleted Images:');
    expect(result.stdout).toMatch(/Total reclaimed space: [0-9.]+[kMG]?B\n$/);
    expect((await berthOk(['images', '-q'], { root })).stdout).toBe('');
  });

  it('pull -a pulls every tag of a repository, and refuses a tag with -a', async () => {
    await pushLayout(join(work, 'layout'), registry.host, 'fixtures/multi-tag', 'busybox');
    await pushLayout(join(work, 'layout'), registry.host, 'fixtures/multi-tag', 'kitchen-sink-gzip');
    const all = await berthOk(['pull', '-a', `${registry.host}/fixtures/multi-tag`], { root });
    expect(all.stdout).toContain(`${registry.host}/fixtures/multi-tag:busybox\n`);
    expect(all.stdout).toContain(`${registry.host}/fixtures/multi-tag:kitchen-sink-gzip\n`);
    const refused = await berth(['pull', '-a', `${registry.host}/fixtures/multi-tag:busybox`], { root });
    expect(refused.code).toBe(125);
    expect(refused.stderr).toContain('with --all-tags: it names a tag or digest');
  });

  it('shows a progress bar per layer on a terminal, and plain lines elsewhere', async () => {
    const fresh = join(work, 'tty-store', 'root');
    // script(1) gives berth a pseudo-terminal for stdout.
    const tty = await run('script', ['-qec', `${berthBin} --root ${fresh} pull ${sink}`, '/dev/null'], { env: { ...process.env, TERM: 'xterm' } });
    const screen = tty.stdout.toString('utf8');
    expect(screen).toMatch(/[0-9a-f]{12}: (Downloading|Pull complete) +\[[^\]]*\] [0-9.]+[kMG]?B\/[0-9.]+[kMG]?B/);
    expect(screen).toContain('Status: Downloaded newer image for');
    await berthOk(['rmi', sink], { root: fresh });
    const plain = await berthOk(['pull', sink], { root: fresh });
    expect(plain.stdout).toMatch(/^[0-9a-f]{12}: Pulling fs layer$/m);
    expect(plain.stdout).toMatch(/^[0-9a-f]{12}: Pull complete$/m);
    expect(plain.stdout).not.toContain('\x1b[');
  });

  it('tells a user without permission to use root or another store', async () => {
    // As nobody, the root-owned store cannot be opened.
    const result = await run('setpriv', ['--reuid=65534', '--regid=65534', '--clear-groups', berthBin, '--root', root, 'images'], { okCodes: [125] });
    expect(result.stderr).toContain(`Cannot use "${root}": permission denied`);
    expect(result.stderr).toContain('Hint: Run berth as root, or choose a store you can write with --root DIR (or BERTH_ROOT)');
  });

  it('a usage error exits 2', async () => {
    const result = await berth(['pull'], { root });
    expect(result.code).toBe(2);
    expect(result.stderr).toContain("missing required argument 'name'");
  });
});
