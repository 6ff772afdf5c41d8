/**
 * The Backend contract (backend-suite.ts) for berth's own backend: berth-monitor running
 * berth-helper with a plan, on this host's cgroups.
 */
import { describe } from 'vitest';
import { BerthBackend } from '../../runtime/backends/berth-backend.js';
import { findNativePrograms, hostCgroups } from '../../runtime/index.js';
import { checkPrerequisites } from '../helpers/require.js';
import { backendContract } from './backend-suite.js';

const skip = checkPrerequisites({ root: true, commands: ['busybox', 'umount'] });

describe.skipIf(skip !== undefined)('berth backend', () => {
  backendContract('berth', async () => {
    const cgroups = hostCgroups();
    return {
      backend: new BerthBackend({ cgroups, programs: () => findNativePrograms() }),
      cgroups,
      // The helper mounts the rootfs in the container's own mount namespace and keeps no
      // state but the cgroup, which the suite checks.
      leftovers: () => Promise.resolve([]),
      close: () => Promise.resolve(),
    };
  });
});
