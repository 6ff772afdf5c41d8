/** `berth system prune` and `berth system df`, and `berth container prune`. */
import type { Command } from 'commander';
import { join } from 'node:path';
import { treeSize } from '../../common/fs.js';
import { humanSize, table } from '../format.js';
import { withContext } from '../run.js';
import { hostNameservers, runDnsDaemon } from '../../network/index.js';
import { hostResolvConf } from '../../runtime/index.js';

export function registerSystem(program: Command): void {
  const system = program.command('system').description('Manage berth');
  system.command('prune').description('Remove stopped containers, unused networks, dangling images (all unused with -a), anonymous volumes (with --volumes), and what crashes left behind')
    .option('-a, --all', 'remove all unused images, not just dangling ones')
    .option('--volumes', 'also remove anonymous volumes that no container uses')
    .option('-f, --force', 'do not prompt for confirmation (berth never prompts)')
    .action(withContext(async (ctx, flags: { all?: boolean; volumes?: boolean }) => {
      const engine = ctx.engine();
      const containers = await engine.prune();
      const leftovers = await engine.reconcile();
      // Bridges and nftables tables of stores whose root was deleted (network/leftovers.ts).
      leftovers.push(...(await ctx.network()).reclaimRemovedStores());
      if (containers.length > 0) process.stdout.write(`Deleted Containers:\n${containers.map((c) => `${c}\n`).join('')}\n`);
      if (leftovers.length > 0) process.stdout.write(`Cleaned up after crashes:\n${leftovers.map((l) => `${l}\n`).join('')}\n`);
      // docker system prune removes the networks no container uses too.
      const networks = await (await ctx.network()).prune();
      if (networks.length > 0) process.stdout.write(`Deleted Networks:\n${networks.map((n) => `${n.name}\n`).join('')}\n`);
      if (flags.volumes === true) {
        const removed = await engine.volumes.prune(engine.volumeUsers());
        if (removed.length > 0) process.stdout.write(`Deleted Volumes:\n${removed.map((n) => `${n}\n`).join('')}\n`);
      }
      const images = await ctx.images().prune({ all: flags.all === true });
      if (images.images.length > 0) process.stdout.write(`Deleted Images:\n${images.images.map((i) => `deleted: ${i}\n`).join('')}\n`);
      process.stdout.write(`Total reclaimed space: ${humanSize(images.reclaimedBytes)}\n`);
    }));
  // The store's DNS responder for user networks (network/dns-daemon.ts), started by berth itself.
  system.command('dns-serve', { hidden: true })
    .action(withContext(async (ctx) => {
      const config = await ctx.config();
      await runDnsDaemon(ctx.db(), ctx.layout, () => config.dns ?? hostNameservers(hostResolvConf()));
    }));
  system.command('df').description('Show disk usage')
    .action(withContext(async (ctx) => {
      const engine = ctx.engine();
      const images = ctx.images().list();
      const used = engine.imagesInUse();
      const views = engine.list();
      const imageSize = images.reduce((n, i) => n + i.size, 0);
      const unusedImageSize = images.filter((i) => !used.has(i.id)).reduce((n, i) => n + i.size, 0);
      let containerSize = 0;
      let stoppedSize = 0;
      for (const v of views) {
        const size = await treeSize(join(engine.dir(v.record.id), 'upper'));
        containerSize += size;
        if (!v.running) stoppedSize += size;
      }
      const volumes = engine.volumes.list();
      const users = engine.volumeUsers();
      let volumeSize = 0;
      let unusedVolumeSize = 0;
      for (const v of volumes) {
        const size = await treeSize(v.mountpoint);
        volumeSize += size;
        if ((users.get(v.name) ?? []).length === 0) unusedVolumeSize += size;
      }
      const pct = (part: number, whole: number): string => (whole === 0 ? '' : ` (${Math.round((part / whole) * 100)}%)`);
      process.stdout.write(table(['TYPE', 'TOTAL', 'ACTIVE', 'SIZE', 'RECLAIMABLE'], [
        ['Images', String(images.length), String(images.filter((i) => used.has(i.id)).length), humanSize(imageSize), `${humanSize(unusedImageSize)}${pct(unusedImageSize, imageSize)}`],
        ['Containers', String(views.length), String(views.filter((v) => v.running).length), humanSize(containerSize), `${humanSize(stoppedSize)}${pct(stoppedSize, containerSize)}`],
        ['Local Volumes', String(volumes.length), String(volumes.filter((v) => (users.get(v.name) ?? []).length > 0).length), humanSize(volumeSize), `${humanSize(unusedVolumeSize)}${pct(unusedVolumeSize, volumeSize)}`],
        ['Build Cache', '0', '0', '0B', '0B'],
      ]));
    }));
}

/** `container prune`. */
export function registerContainerPrune(container: Command): void {
  container.command('prune').description('Remove all stopped containers')
    .option('-f, --force', 'do not prompt for confirmation (berth never prompts)')
    .action(withContext(async (ctx) => {
      const removed = await ctx.engine().prune();
      if (removed.length > 0) process.stdout.write(`Deleted Containers:\n${removed.map((c) => `${c}\n`).join('')}\n`);
      process.stdout.write('Total reclaimed space: 0B\n');
    }));
}
