/**
 * `berth run` and `berth create`, with docker's flags. run = create + start, then (without
 * -d) attach to the container's output, forward signals, wait, and exit with the
 * container's status; with --rm the container is removed afterwards.
 */
import type { Command } from 'commander';
import { readFileSync } from 'node:fs';
import { InterruptedError, InvalidArgumentError, UsageError } from '../../common/errors.js';
import {
  parseLogOpts, parseMount, parseTmpfs, parseUlimit, parseVolume, type CreateOptions, type MountRequest, type PullPolicy,
} from '../../runtime/index.js';
import { attachTerminal } from '../attach.js';
import type { CommandContext } from '../context.js';
import { setExitStatus, withContext } from '../run.js';
import { trace } from '../../common/trace.js';
import { resourceChanges, resourceOptions, type ResourceFlags } from '../resource-flags.js';
import { pullForRun } from './pull.js';
import { parseExpose, parsePublish } from '../../network/index.js';
import { collect, keyValues } from '../options.js';

interface RunFlags extends ResourceFlags {
  readonly detach?: boolean;
  readonly interactive?: boolean;
  readonly tty?: boolean;
  readonly rm?: boolean;
  readonly name?: string;
  readonly env: string[];
  readonly envFile: string[];
  readonly workdir?: string;
  readonly user?: string;
  readonly entrypoint?: string;
  readonly hostname?: string;
  readonly volume: string[];
  readonly mount: string[];
  readonly tmpfs: string[];
  readonly readOnly?: boolean;
  readonly capAdd: string[];
  readonly capDrop: string[];
  readonly privileged?: boolean;
  readonly securityOpt: string[];
  readonly init?: boolean;
  readonly ulimit: string[];
  readonly sysctl: string[];
  readonly stopSignal?: string;
  readonly stopTimeout?: string;
  readonly label: string[];
  readonly pull: string;
  readonly runtime?: string;
  readonly cgroupParent?: string;
  readonly network?: string;
  readonly publish: string[];
  readonly publishAll?: boolean;
  readonly expose: string[];
  readonly dns: string[];
  readonly dnsSearch: string[];
  readonly dnsOption: string[];
  readonly addHost: string[];
  readonly ip?: string;
  readonly macAddress?: string;
  readonly networkAlias: string[];
  readonly logOpt: string[];
}


/** Adds the flags run and create share. */
function containerFlags(command: Command): Command {
  command
    .argument('<image>', 'image to run')
    .argument('[command...]', 'command and arguments (default: the image\'s)')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('--rm', 'remove the container when it exits')
    .option('--name <name>', 'name of the container')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (KEY alone: take it from this shell)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid, and optionally group name or gid')
    .option('--entrypoint <cmd>', 'override the image\'s entrypoint')
    .option('-h, --hostname <name>', 'container host name')
    .option('-v, --volume <src:dst[:ro]>', 'bind mount a host path', collect, [])
    .option('--mount <spec>', 'mount: type=bind|tmpfs,source=..,target=..[,readonly]', collect, [])
    .option('--tmpfs <dst[:options]>', 'mount a tmpfs', collect, [])
    .option('--read-only', 'mount the container\'s root filesystem read-only')
    .option('--cap-add <cap>', 'add a Linux capability', collect, [])
    .option('--cap-drop <cap>', 'drop a Linux capability', collect, [])
    .option('--privileged', 'give extended privileges to the container')
    .option('--security-opt <opt>', 'security options (no-new-privileges)', collect, [])
    .option('--init', 'run an init inside the container that forwards signals and reaps processes')
    .option('--ulimit <name=soft[:hard]>', 'ulimit options', collect, [])
    .option('--sysctl <key=value>', 'set a namespaced kernel parameter (kernel.shm*, net.*, ...)', collect, [])
    .option('--stop-signal <signal>', 'signal to stop the container (default SIGTERM)')
    .option('--stop-timeout <seconds>', 'seconds to wait for the container to stop before killing it')
    .option('-l, --label <key=value>', 'set metadata on the container', collect, [])
    .option('--pull <policy>', 'pull the image before running: missing, always, never', 'missing')
    .option('--runtime <name>', 'OCI runtime: berth (default), runc, crun, or a path')
    .option('--cgroup-parent <path>', 'cgroup the container\'s cgroup goes under (default /berth)')
    .option('--net, --network <mode>', 'network: bridge (default), a network\'s name, none, host, or container:NAME')
    .option('-p, --publish <[ip:][hostPort:]containerPort[/proto]>', 'publish a container\'s port on the host', collect, [])
    .option('-P, --publish-all', 'publish every exposed port on a free host port')
    .option('--expose <port[/proto]>', 'expose a port (or a range) without publishing it', collect, [])
    .option('--dns <ip>', 'set a DNS server', collect, [])
    .option('--dns-search <domain>', 'set a DNS search domain', collect, [])
    .option('--dns-option <option>', 'set a DNS option', collect, [])
    .option('--add-host <host:ip>', 'add a line to /etc/hosts (ip may be host-gateway)', collect, [])
    .option('--ip <address>', 'IPv4 address on a user-defined network')
    .option('--mac-address <mac>', 'the container\'s MAC address')
    .option('--network-alias <alias>', 'another name of the container on its network', collect, [])
    .option('--log-opt <opt>', 'log driver options: max-size, max-file', collect, []);
  return resourceOptions(command);
}

/** Registers `run` and `create` on `program` (also under `container`). */
export function registerRun(program: Command): void {
  containerFlags(program.command('run').description('Create and run a new container from an image'))
    .option('-d, --detach', 'run in the background and print the container ID')
    .passThroughOptions()
    .action(withContext(async (ctx, image: string, command: string[], flags: RunFlags) => run(ctx, image, command, flags)));
  containerFlags(program.command('create').description('Create a new container'))
    .passThroughOptions()
    .action(withContext(async (ctx, image: string, command: string[], flags: RunFlags) => {
      const engine = ctx.engine((name) => pullMissing(ctx, name));
      const view = await engine.create(createOptions(image, command, flags));
      process.stdout.write(`${view.record.id}\n`);
    }));
}

async function pullMissing(ctx: CommandContext, name: string, signal?: AbortSignal): Promise<string> {
  process.stderr.write(`Unable to find image '${name}' locally\n`);
  return pullForRun(ctx, name, process.stderr, signal);
}

async function run(ctx: CommandContext, image: string, command: readonly string[], flags: RunFlags): Promise<void> {
  const options = createOptions(image, command, flags);
  if (flags.detach === true && flags.rm === true && flags.interactive === true && flags.tty === true) {
    // docker allows it; nothing special to do.
  }
  const pulling = new AbortController();
  const engine = ctx.engine((name) => pullMissing(ctx, name, pulling.signal));
  // A signal while the container is being made would leave it half made: note it, let the
  // create finish, then take the container away again and stop, as for Ctrl-C in a pull.
  let interrupted: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals): void => {
    interrupted ??= sig;
    pulling.abort(new InterruptedError(`Interrupted (${sig})`));
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  let created;
  try {
    trace('create');
    created = await engine.create(options);
    trace('created');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
  const id = created.record.id;
  if (interrupted !== undefined) {
    await engine.remove(id, { force: true, ifExists: true, volumes: options.autoRemove === true });
    throw new InterruptedError(`Interrupted (${interrupted}) while creating the container; it was removed`);
  }
  if (flags.detach === true) {
    try {
      await engine.start(id);
    } catch (err) {
      if (options.autoRemove === true) await engine.remove(id, { force: true, ifExists: true }).catch(() => undefined);
      throw err;
    }
    process.stdout.write(`${id}\n`);
    return;
  }
  const status = await attachTerminal(engine, created, {
    stdin: flags.interactive === true, tty: flags.tty === true, start: true, proxySignals: true,
  });
  trace('exited');
  if (options.autoRemove === true) await engine.remove(id, { force: true, ifExists: true, volumes: true });
  trace('removed');
  setExitStatus(status);
}

/** Turns the flags into engine options, checking what can be checked before anything is created. */
export function createOptions(image: string, command: readonly string[], flags: RunFlags): CreateOptions {
  const pull = flags.pull;
  if (pull !== 'missing' && pull !== 'always' && pull !== 'never') {
    throw new UsageError(`Invalid --pull "${pull}"`, { hint: 'Use missing, always or never' });
  }
  const env: string[] = [];
  for (const file of flags.envFile) env.push(...readEnvFile(file));
  env.push(...flags.env);
  const labels = keyValues(flags.label);
  const mounts: MountRequest[] = [
    ...flags.volume.map(parseVolume), ...flags.mount.map(parseMount), ...flags.tmpfs.map(parseTmpfs),
  ];
  let stopTimeout: number | undefined;
  if (flags.stopTimeout !== undefined) {
    stopTimeout = Number(flags.stopTimeout);
    if (!Number.isInteger(stopTimeout)) throw new UsageError(`Invalid --stop-timeout "${flags.stopTimeout}": give whole seconds`);
  }
  const log = parseLogOpts(flags.logOpt);
  return {
    image, name: flags.name, command: command.length > 0 ? command : undefined, entrypoint: flags.entrypoint, env,
    workdir: flags.workdir, user: flags.user, hostname: flags.hostname, tty: flags.tty === true, interactive: flags.interactive === true,
    autoRemove: flags.rm === true, readOnly: flags.readOnly === true, capAdd: flags.capAdd, capDrop: flags.capDrop,
    privileged: flags.privileged === true, securityOpt: flags.securityOpt, init: flags.init === true,
    ulimits: flags.ulimit.map(parseUlimit), sysctls: sysctlFlags(flags.sysctl), mounts, labels, stopSignal: flags.stopSignal, stopTimeout,
    network: flags.network, networking: {
      ports: flags.publish.flatMap(parsePublish), publishAll: flags.publishAll === true, expose: flags.expose.flatMap(parseExpose),
      dns: flags.dns, dnsSearch: flags.dnsSearch, dnsOptions: flags.dnsOption, addHosts: flags.addHost, ip: flags.ip, mac: flags.macAddress,
      aliases: flags.networkAlias,
    },
    runtime: flags.runtime, logMaxSize: log.maxSize, logMaxFiles: log.maxFiles, pull: pull as PullPolicy, hostEnv: process.env,
    resources: resourceChanges(flags), cgroupParent: flags.cgroupParent, onWarning: (message) => process.stderr.write(`WARNING: ${message}\n`),
  };
}

/** docker's --env-file: KEY=VALUE or KEY lines; # comments and blank lines skipped. */
export function readEnvFile(path: string): string[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`Cannot read the env file "${path}": ${err instanceof Error ? err.message : String(err)}`);
  }
  const out: string[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.replace(/^\s+/, '');
    if (line === '' || line.startsWith('#')) continue;
    const eq = line.indexOf('=');
    const key = eq < 0 ? line.trimEnd() : line.slice(0, eq);
    if (key === '' || /\s/.test(key)) throw new InvalidArgumentError(`Invalid line in env file "${path}": ${raw}`);
    if (eq < 0) {
      const v = process.env[key];
      if (v !== undefined) out.push(`${key}=${v}`);
    } else {
      out.push(line);
    }
  }
  return out;
}

/** --sysctl KEY=VALUE, as docker takes it (opts.ValidateSysctl: a value is required). */
function sysctlFlags(values: readonly string[]): Record<string, string> {
  for (const v of values) {
    if (!v.includes('=') || v.startsWith('=')) throw new UsageError(`invalid argument "${v}" for "--sysctl" flag: sysctl '${v}' is not allowed`, { hint: 'Give KEY=VALUE, e.g. --sysctl net.ipv4.ip_forward=1' });
  }
  return keyValues(values);
}

