/** `berth login [SERVER] [-u USER] [-p PASS | --password-stdin]` and `berth logout [SERVER]`. */
import type { Command } from 'commander';
import { text } from 'node:stream/consumers';
import { InvalidArgumentError } from '../../common/errors.js';
import { normaliseServer } from '../../image/index.js';
import { withContext } from '../run.js';

interface LoginFlags {
  readonly username?: string;
  readonly password?: string;
  readonly passwordStdin?: boolean;
}

/** Registers `login` and `logout`. */
export function registerLogin(program: Command): void {
  program
    .command('login')
    .description('Log in to a registry')
    .argument('[server]', 'registry host[:port] (default: Docker Hub)', 'docker.io')
    .option('-u, --username <username>', 'user name')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .action(withContext(async (ctx, server: string, flags: LoginFlags) => {
      const { username, password } = await credentialsFrom(flags);
      const domain = normaliseServer(server);
      const registry = await ctx.registry();
      await registry.checkLogin(domain, { username, password });
      await (await ctx.credentials()).set(domain, username, password);
      process.stdout.write('Login Succeeded\n');
    }));
  program
    .command('logout')
    .description('Log out from a registry')
    .argument('[server]', 'registry host[:port] (default: Docker Hub)', 'docker.io')
    .action(withContext(async (ctx, server: string) => {
      const domain = normaliseServer(server);
      const removed = await (await ctx.credentials()).remove(domain);
      process.stdout.write(removed ? `Removing login credentials for ${domain}\n` : `Not logged in to ${domain}\n`);
    }));
}

async function credentialsFrom(flags: LoginFlags): Promise<{ username: string; password: string }> {
  if (flags.username === undefined || flags.username === '') {
    throw new InvalidArgumentError('Cannot log in: no user name given', { hint: 'Give one with -u USER, and the password with --password-stdin' });
  }
  if (flags.passwordStdin === true && flags.password !== undefined) {
    throw new InvalidArgumentError('Cannot log in: --password and --password-stdin are mutually exclusive');
  }
  const password = flags.passwordStdin === true ? (await text(process.stdin)).replace(/\r?\n$/, '') : flags.password;
  if (password === undefined || password === '') {
    throw new InvalidArgumentError('Cannot log in: no password given', { hint: 'Pipe it in with --password-stdin, or give -p PASSWORD' });
  }
  return { username: flags.username, password };
}
