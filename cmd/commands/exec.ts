/** `berth exec [-i] [-t] [-d] [-e K=V] [-u USER] [-w DIR] [--privileged] CONTAINER CMD...`. */
import type { Command } from 'commander';
import { readEnvFile } from './run.js';
import { setExitStatus, withContext } from '../run.js';
import { collect } from '../options.js';

interface ExecFlags {
  readonly interactive?: boolean;
  readonly tty?: boolean;
  readonly detach?: boolean;
  readonly env: string[];
  readonly envFile: string[];
  readonly user?: string;
  readonly workdir?: string;
  readonly privileged?: boolean;
}


export function registerExec(program: Command): void {
  program.command('exec').description('Execute a command in a running container')
    .argument('<container>').argument('<command...>')
    .option('-i, --interactive', 'keep stdin open')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('-d, --detach', 'run the command in the background')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable', collect, [])
    .option('--env-file <file>', 'read environment variables from a file', collect, [])
    .option('-u, --user <user[:group]>', 'user name or uid, and optionally group name or gid')
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('--privileged', 'give extended privileges to the command')
    .passThroughOptions()
    .action(withContext(async (ctx, name: string, command: string[], flags: ExecFlags) => {
      const env = [...flags.envFile.flatMap(readEnvFile), ...flags.env];
      const status = await ctx.engine().exec(name, {
        command, env, user: flags.user, workdir: flags.workdir, tty: flags.tty === true, interactive: flags.interactive === true,
        detach: flags.detach === true, privileged: flags.privileged === true, hostEnv: process.env,
      });
      setExitStatus(status);
    }));
}
