/**
 * Running a command action: builds the {@link CommandContext} from the global options,
 * runs the action, closes the context, and leaves errors to main's single handler.
 */
import type { Command } from 'commander';
import { CommandContext, type GlobalOptions } from './context.js';

let exitStatus = 0;

/** Sets the exit status of a command that succeeded (a container's own status). */
export function setExitStatus(status: number): void {
  exitStatus = status;
}

/** The status set by {@link setExitStatus}, reset for the next run. */
export function takeExitStatus(): number {
  const s = exitStatus;
  exitStatus = 0;
  return s;
}

/**
 * Wraps an action so it receives a context first. Commander passes the positional
 * arguments, then the options, then the command; the wrapper finds the command last.
 */
export function withContext<A extends unknown[]>(
  action: (ctx: CommandContext, ...args: A) => Promise<void> | void,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args.at(-1) as Command;
    const globals = command.optsWithGlobals<GlobalOptions>();
    const ctx = new CommandContext(globals);
    try {
      await action(ctx, ...(args.slice(0, -1) as A));
    } finally {
      ctx.close();
    }
  };
}
