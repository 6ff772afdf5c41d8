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
}
