/**
 * `berth network create|ls|rm|inspect|connect|disconnect|prune`, and `berth port`: docker's.
 * The inspect document and what ls lists are network/inspect.ts's.
 */
import type { Command } from 'commander';
import { FailedPreconditionError, NotFoundError } from '../../common/errors.js';
import { formatPortLines, inspectNetwork, listNetworks, networkFilters } from '../../network/index.js';
import { table } from '../format.js';
import { applyTemplate } from './ps.js';
import { withContext } from '../run.js';
import { collect, keyValues } from '../options.js';

export function registerNetwork(program: Command): void {
  const network = program.command('network').description('Manage networks');
  network.command('create').description('Create a network (a Linux bridge with its own subnet)')
    .argument('<name>')
    .option('-d, --driver <driver>', 'network driver (bridge)', 'bridge')
    .option('--subnet <cidr>', 'subnet, e.g. 10.90.0.0/24 (default: a free one from the address pools)')
    .option('--gateway <ip>', 'the bridge\'s address in the subnet (default: the first one)')
    .option('--internal', 'no route out: containers reach only each other')
    .option('--label <key=value>', 'set metadata on the network', collect, [])
    .option('-o, --opt <key=value>', 'driver option: com.docker.network.driver.mtu (of the route out of the host), com.docker.network.bridge.name', collect, [])
    .action(withContext(async (ctx, name: string, flags: { driver: string; subnet?: string; gateway?: string; internal?: boolean; label: string[]; opt: string[] }) => {
      const manager = await ctx.network();
      const n = manager.create({
        name, driver: flags.driver, subnet: flags.subnet, gateway: flags.gateway, internal: flags.internal === true, labels: keyValues(flags.label),
        options: keyValues(flags.opt),
      });
      process.stdout.write(`${n.id}\n`);
    }));
  network.command('ls').alias('list').description('List networks')
    .option('-q, --quiet', 'only display network ids')
    .option('--no-trunc', 'do not truncate the ids')
    .option('--format <format>', 'table (default), json, or a {{.Field}} template')
    .option('-f, --filter <key=value>', 'filter: name, id, driver, label, type (custom or builtin)', collect, [])
    .action(withContext(async (ctx, flags: { quiet?: boolean; trunc: boolean; format?: string; filter: string[] }) => {
      const manager = await ctx.network();
      const filters = networkFilters(flags.filter);
      const id = (full: string): string => (flags.trunc ? full.slice(0, 12) : full);
      const rows = listNetworks(manager.list(), filters)
        .map((n) => ({ ID: id(n.id), Name: n.name, Driver: n.driver, Scope: 'local', Internal: String(n.internal), Labels: Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(',') }));
      if (flags.quiet === true) {
        process.stdout.write(rows.map((r) => `${r.ID}\n`).join(''));
        return;
      }
      const format = flags.format ?? 'table';
      if (format === 'json') process.stdout.write(rows.map((r) => `${JSON.stringify(r)}\n`).join(''));
      else if (format === 'table') process.stdout.write(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE'], rows.map((r) => [r.ID, r.Name, r.Driver, r.Scope])));
      else process.stdout.write(rows.map((r) => `${applyTemplate(format, r)}\n`).join(''));
    }));
  network.command('inspect').description('Display detailed information on one or more networks')
    .argument('<names...>')
    .option('-f, --format <format>', 'json (default) or a {{.Field}} template')
    .action(withContext(async (ctx, names: string[], flags: { format?: string }) => {
      const manager = await ctx.network();
      const engine = ctx.engine();
      const docs = names.map((name) => {
        const n = manager.find(name);
        return inspectNetwork(n, { endpoints: manager.records.endpoints(n.id), containerName: (id) => engine.records.byId(id)?.name });
      });
      if (flags.format === undefined || flags.format === 'json') process.stdout.write(`${JSON.stringify(docs, null, 4)}\n`);
      else process.stdout.write(docs.map((d) => `${applyTemplate(flags.format ?? '', d)}\n`).join(''));
    }));
  network.command('rm').alias('remove').description('Remove one or more networks')
    .argument('<names...>')
    .option('-f, --force', 'do not fail when a network does not exist')
    .action(withContext(async (ctx, names: string[], flags: { force?: boolean }) => {
      const manager = await ctx.network();
      const engine = ctx.engine();
      let first: unknown;
      for (const name of names) {
        try {
          if (name === 'host' || name === 'none') throw new FailedPreconditionError(`${name} is a pre-defined network and cannot be removed`);
          await manager.remove(name, (id) => engine.records.byId(id)?.name ?? id);
          process.stdout.write(`${name}\n`);
        } catch (err) {
          if (flags.force === true && err instanceof NotFoundError) continue;
          if (first !== undefined) process.stderr.write(`Error: ${err instanceof Error ? err.message : String(err)}\n`);
          first ??= err;
        }
      }
      if (first !== undefined) throw first;
    }));
  network.command('prune').description('Remove all networks that no container uses')
    .option('-f, --force', 'do not prompt for confirmation (berth never prompts)')
    .action(withContext(async (ctx) => {
      const removed = await (await ctx.network()).prune();
      if (removed.length > 0) process.stdout.write(`Deleted Networks:\n${removed.map((n) => `${n.name}\n`).join('')}`);
    }));
  network.command('connect').description('Connect a container to a network')
    .argument('<network>').argument('<container>')
    .option('--ip <address>', 'IPv4 address on the network')
    .option('--alias <alias>', 'another name of the container on the network', collect, [])
    .action(withContext(async (ctx, net: string, container: string, flags: { ip?: string; alias: string[] }) => {
      await ctx.engine().connect(net, container, { ip: flags.ip, aliases: flags.alias });
    }));
  network.command('disconnect').description('Disconnect a container from a network')
    .argument('<network>').argument('<container>')
    .option('-f, --force', 'accepted for docker compatibility')
    .action(withContext(async (ctx, net: string, container: string) => {
      await ctx.engine().disconnect(net, container);
    }));
}

/** docker port CONTAINER [PRIVATE_PORT[/PROTO]]. */
export function registerPort(program: Command): void {
  program.command('port').description('List port mappings of a container')
    .argument('<container>').argument('[port]')
    .action(withContext(async (ctx, container: string, port: string | undefined) => {
      const engine = ctx.engine();
      const view = engine.find(container);
      const { ports } = await engine.networkSettings(view.record);
      const lines = formatPortLines(ports.map((p) => ({ hostIp: p.hostIp, hostPort: p.hostPort, containerPort: p.containerPort, protocol: p.protocol as 'tcp' })), port);
      if (port !== undefined && lines.length === 0) throw new NotFoundError(`No public port '${port}' published for ${view.record.name}`);
      process.stdout.write(lines.map((l) => `${l}\n`).join(''));
    }));
}
