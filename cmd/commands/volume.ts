/** `berth volume create|ls|rm|inspect|prune`, docker's local driver. */
import type { Command } from 'commander';
import { InvalidArgumentError } from '../../common/errors.js';
import { inspectVolume } from '../../runtime/index.js';
import { table } from '../format.js';
import { applyTemplate } from './ps.js';
import { withContext } from '../run.js';
import { collect, keyValues } from '../options.js';

export function registerVolume(program: Command): void {
  const volume = program.command('volume').description('Manage volumes');
  volume.command('create').description('Create a volume')
    .argument('[name]')
    .option('-d, --driver <driver>', 'volume driver (local only)', 'local')
    .option('--label <key=value>', 'set metadata on the volume', collect, [])
    .action(withContext(async (ctx, name: string | undefined, flags: { driver: string; label: string[] }) => {
      if (flags.driver !== 'local') throw new InvalidArgumentError(`Unknown volume driver "${flags.driver}"`, { hint: 'berth has the local driver' });
      const v = await ctx.engine().volumes.create({ name, labels: keyValues(flags.label), anonymous: false });
      process.stdout.write(`${v.name}\n`);
    }));
  volume.command('ls').alias('list').description('List volumes')
    .option('-q, --quiet', 'only display volume names')
    .option('--format <format>', 'table (default), json, or a {{.Field}} template')
    .action(withContext((ctx, flags: { quiet?: boolean; format?: string }) => {
      const volumes = ctx.engine().volumes.list();
      if (flags.quiet === true) {
        process.stdout.write(volumes.map((v) => `${v.name}\n`).join(''));
        return;
      }
      const rows = volumes.map((v) => ({ Driver: 'local', Labels: Object.entries(v.labels).map(([k, x]) => `${k}=${x}`).join(','), Mountpoint: v.mountpoint, Name: v.name, Scope: 'local' }));
      const format = flags.format ?? 'table';
      if (format === 'json') process.stdout.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      else if (format === 'table') process.stdout.write(table(['DRIVER', 'VOLUME NAME'], rows.map((r) => [r.Driver, r.Name])));
      else process.stdout.write(rows.map((r) => `${applyTemplate(format, r)}\n`).join(''));
    }));
  volume.command('inspect').description('Display detailed information on one or more volumes')
    .argument('<names...>')
    .option('-f, --format <format>', 'json (default) or a {{.Field}} template')
    .action(withContext((ctx, names: string[], flags: { format?: string }) => {
      const store = ctx.engine().volumes;
      const docs = names.map((n) => inspectVolume(store.find(n)));
      if (flags.format === undefined || flags.format === 'json') process.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
      else process.stdout.write(docs.map((d) => `${applyTemplate(flags.format ?? '', d)}\n`).join(''));
    }));
  volume.command('rm').alias('remove').description('Remove one or more volumes')
    .argument('<names...>')
    .option('-f, --force', 'do not fail when a volume does not exist')
    .action(withContext(async (ctx, names: string[], flags: { force?: boolean }) => {
      const engine = ctx.engine();
      const users = engine.volumeUsers();
      let first: unknown;
      for (const name of names) {
        try {
          if (flags.force === true && engine.volumes.get(name) === undefined) continue;
          await engine.volumes.remove(name, users.get(name) ?? []);
          process.stdout.write(`${name}\n`);
        } catch (err) {
          if (first !== undefined) process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    }));
  volume.command('prune').description('Remove unused volumes (anonymous ones; all unused with -a)')
    .option('-a, --all', 'remove all unused volumes, not just anonymous ones')
    .option('-f, --force', 'do not prompt for confirmation (berth never prompts)')
    .action(withContext(async (ctx, flags: { all?: boolean }) => {
      const engine = ctx.engine();
      const removed = await engine.volumes.prune(engine.volumeUsers(), { all: flags.all });
      if (removed.length > 0) process.stdout.write(`Deleted Volumes:\n${removed.map((n) => `${n}\n`).join('')}\n`);
      process.stdout.write('Total reclaimed space: 0B\n');
    }));
}
