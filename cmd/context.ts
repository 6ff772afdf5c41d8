/**
 * Wiring for one CLI invocation: runtime's {@link Services} for the store of `--root`
 * (or `BERTH_ROOT`), with berth's own command line for what it leaves behind (the
 * monitor's exit command, the DNS responder) and warnings on stderr.
 */
import { Services } from '../runtime/index.js';

/** Global options every command sees. */
export interface GlobalOptions {
  readonly root?: string | undefined;
  readonly debug?: boolean | undefined;
}

/** Lazily built services of one invocation. Call {@link close} when done. */
export class CommandContext extends Services {
  readonly debug: boolean;

  constructor(options: GlobalOptions, env: NodeJS.ProcessEnv = process.env) {
    super({
      root: options.root, env, berthProgram: [process.execPath, process.argv[1] ?? 'berth'],
      onWarning: (message) => process.stderr.write(`Warning: ${message}\n`),
    });
    this.debug = options.debug === true;
  }
}
