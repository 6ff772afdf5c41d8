/** `berth container …`: the container commands under one group, as docker has them. */
import type { Command } from 'commander';
import { registerExec } from './exec.js';
import { registerInspect } from './inspect.js';
import { registerLifecycle } from './lifecycle.js';
import { registerLimits } from './limits.js';
import { registerLogs } from './logs.js';
import { registerPs } from './ps.js';
import { registerRun } from './run.js';
import { registerContainerPrune } from './system.js';
import { registerTop } from './top.js';
import { registerCp, registerDiff } from './cp.js';
import { registerPort } from './network.js';
import { withContext } from '../run.js';

export function registerContainer(program: Command): void {
  const container = program.command('container').description('Manage containers').enablePositionalOptions();
  registerRun(container);
  registerLifecycle(container);
  registerExec(container);
  registerLimits(container);
  registerPs(container, 'ls');
  registerPs(container, 'list');
  registerLogs(container);
  registerInspect(container, true);
  registerContainerPrune(container);
  registerTop(container);
  registerCp(container);
  registerDiff(container);
  registerPort(container);
  // The monitor's exit command for a container that ends by itself (podman has the same):
  // tears down what only a running container needs, its network.
  container.command('cleanup', { hidden: true }).argument('<container>')
    .action(withContext(async (ctx, id: string) => {
      await ctx.engine().cleanup(id);
    }));
}
