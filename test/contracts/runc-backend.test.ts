/**
 * The Backend contract (backend-suite.ts) for another OCI runtime: runc, under
 * berth-monitor, with its state in a temp root of this file's own. (crun is the other
 * runtime berth takes, but it refuses this project's hybrid-cgroup hosts.)
 */
import { describe } from 'vitest';
import type { TaskRef } from '../../common/backend.js';
import { OciRuntimeBackend } from '../../runtime/backends/oci-backend.js';
import { findNativePrograms, hostCgroups } from '../../runtime/index.js';
import { CommandError, makeTempDir, removeDir, run } from '../helpers/exec.js';
import { checkPrerequisites } from '../helpers/require.js';
import { backendContract } from './backend-suite.js';

const skip = checkPrerequisites({ root: true, commands: ['busybox', 'runc', 'mount', 'umount'] });

describe.skipIf(skip !== undefined)('runc backend', () => {
  backendContract('runc', async () => {
    const cgroups = hostCgroups();
    const stateRoot = await makeTempDir('contract-runc');
    const backend = new OciRuntimeBackend('runc', { cgroups, programs: () => findNativePrograms(), stateRoot });
    return {
      backend,
      cgroups,
      /** `runc --root R state ID` must say that runc does not know the container. */
      leftovers: async (task: TaskRef) => {
        try {
          const state = await run('runc', ['--root', (await backend.runtime()).root, 'state', task.id]);
          return [`runc still knows the container: ${state.stdout.toString('utf8').trim()}`];
        } catch (err) {
          if (err instanceof CommandError && /does not exist/.test(err.stderr)) return [];
          throw err;
        }
      },
      close: async () => {
        await removeDir(stateRoot);
      },
    };
  });
});
