/**
 * What the container benchmarks (bench:run, bench:limits) set up before any engine: the run's
 * scratch dir, the busybox image and its bundle, the registry serving it, the
 * {@link StartContext} and its {@link Engines}; and the host snapshot taken before and after the
 * run, so that anything left behind is reported.
 */
import { mkdir, mkdtemp, readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBusybox, busyboxTag, makeBundle } from './busybox.js';
import { log } from './harness.js';
import { cgroupMounts } from './host.js';
import { output } from './proc.js';
import { serveImage } from './registry.js';
import { Engines, type StartContext } from './start-runners.js';
import { removeTree, type Teardown } from './teardown.js';

/**
 * Names in the host places the benchmark's tools write to outside its work dir; compared
 * before and after the run so that anything left behind is reported.
 */
async function hostSnapshot(): Promise<Set<string>> {
  const names = new Set<string>();
  const add = async (dir: string): Promise<void> => {
    for (const n of await readdir(dir).catch(() => [])) names.add(join(dir, n));
  };
  for (const d of ['/run', '/var/lib', '/etc/docker', '/run/netns', '/etc/cni/net.d']) await add(d);
  for (const { point } of await cgroupMounts()) await add(point);
  for (const link of (await output('ip', ['-o', 'link', 'show']).catch(() => '')).split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(link)?.[1];
    if (name !== undefined) names.add(`link ${name}`);
  }
  for (const key of ['net/ipv4/ip_forward', 'net/ipv6/conf/all/forwarding']) {
    const value = (await readFile(`/proc/sys/${key}`, 'utf8').catch(() => '?')).trim();
    names.add(`sysctl ${key.replace(/\//g, '.')}=${value}`);
  }
  for (const rule of (await output('iptables-save', []).catch(() => '')).split('\n')) {
    if (rule.startsWith('-A ') || rule.startsWith(':')) names.add(`iptables ${rule.replace(/ \[\d+:\d+\]$/, '')}`);
  }
  return names;
}

/**
 * The `before` and `after` hooks of {@link benchMain}: a host snapshot before the run, and after
 * the teardown a log line naming what appeared meanwhile.
 */
export function hostWatch(): { before: () => Promise<void>; after: () => Promise<void> } {
  let before = new Set<string>();
  return {
    before: async () => {
      before = await hostSnapshot();
    },
    after: async () => {
      const left = [...(await hostSnapshot())].filter((n) => !before.has(n));
      if (left.length > 0) log(`left on the host since the start (by this run or by someone else meanwhile): ${left.join(', ')}`);
    },
  };
}

/** The context, its engines (made on demand, torn down by `teardown`) and the report's image line. */
export interface PreparedStart {
  readonly ctx: StartContext;
  readonly engines: Engines;
  /** `busybox v1.35.0 from Debian's /bin/busybox (busybox-static), built with umoci, 1 layer (...)`. */
  readonly imageLine: string;
}

/**
 * Makes the scratch dir `workParent/berth-bench-NAME.XXXXXX`, builds the busybox image and its
 * bundle there, serves the image from a private registry and makes the engines; every step
 * registers its undo on `teardown`.
 */
export async function prepareStart(name: string, workParent: string, signal: AbortSignal, teardown: Teardown): Promise<PreparedStart> {
  await mkdir(workParent, { recursive: true });
  const work = await mkdtemp(join(workParent, `berth-bench-${name}.`));
  teardown.add(`remove ${work}`, () => removeTree(work));
  log(`building the busybox image in ${work}`);
  const image = await buildBusybox(join(work, 'image'));
  const bundle = join(work, 'bundle');
  await makeBundle(image, bundle);
  const served = await serveImage({ layoutDir: image.layoutDir, tag: busyboxTag, path: 'library/busybox' }, work, { teardown, signal });
  const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
  const baseline = process.env['BENCH_BASELINE'];
  const ctx: StartContext = {
    ...served, work, image, repoRoot, bundle, tag: `berth-bench-${process.pid}`,
    ...(baseline === undefined || baseline === '' ? {} : { baselineRoot: baseline }),
  };
  const engines = new Engines(ctx);
  teardown.add('engines', async () => {
    const failures = await engines.teardown();
    if (failures.length > 0) throw new Error(failures.join('; '));
  });
  const layer = image.layers[0];
  const imageLine = `busybox ${image.busyboxVersion} from Debian's /bin/busybox (busybox-static), built with umoci, ` +
    `${image.layers.length} layer${layer === undefined ? '' : ` (${(layer.tarSize / 1e6).toFixed(1)} MB tar / ${(layer.size / 1e6).toFixed(1)} MB gzip)`}`;
  return { ctx, engines, imageLine };
}
