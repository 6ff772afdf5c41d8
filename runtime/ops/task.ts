/** What create and start share about a container's task: its exit command and its discarding. */
import type { TaskRef } from '../../common/backend.js';
import type { ContainerConfig } from '../config.js';
import { parseNetworkMode } from '../networking.js';
import type { EngineContext } from './context.js';

/**
 * What the monitor runs once the container has exited: `rm` for --rm, else berth's
 * `container cleanup` for a container on a network (podman's conmon runs its exit command
 * the same way), else nothing.
 */
export function exitCommand(ctx: EngineContext, id: string, config: ContainerConfig): string[] | undefined {
  const berth = ctx.deps.berthCommand;
  if (config.autoRemove) return [...berth, 'rm', '--force', '--volumes', '--if-exists', id];
  return parseNetworkMode(config.networkMode).kind === 'network' ? [...berth, 'container', 'cleanup', id] : undefined;
}

/** Kills what a create that failed started, and has the backend release the rest. */
export async function discardTask(ctx: EngineContext, backend: string, task: TaskRef): Promise<void> {
  for (const p of [task.pid, task.monitorPid]) {
    if (p <= 0) continue;
    try {
      process.kill(p, 'SIGKILL');
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'ESRCH') throw err;
    }
  }
  await ctx.backend(backend).delete(task);
}
