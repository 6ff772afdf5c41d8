/**
 * A {@link ContainerEngine} over a temp store with hand-made container records, for unit
 * tests of what reads records and views (inspect, ps): nothing is run, no native program
 * is needed. `add()` records a container in the state asked for; `cleanup()` closes the
 * database and removes the store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { NotFoundError } from '../../common/errors.js';
import { MetadataDb } from '../../common/metadata.js';
import { StateLayout } from '../../common/paths.js';
import type { NetworkConfig } from '../../runtime/networking.js';
import { ContainerEngine, hostCgroups, processStartTime, type ContainerConfig, type ContainerRecord } from '../../runtime/index.js';

/** A config as `berth create busybox sh -c 'echo hi'` records it; `overrides` replace fields. */
export function containerConfig(overrides: Partial<ContainerConfig> = {}): ContainerConfig {
  return {
    hostname: 'c0ffee', domainname: '', user: '', env: ['PATH=/bin'], cmd: ['sh', '-c', 'echo hi'], entrypoint: null, workingDir: '/',
    labels: {}, tty: false, openStdin: false, stopSignal: 'SIGTERM', stopTimeout: undefined, image: 'busybox', path: 'sh', args: ['-c', 'echo hi'],
    autoRemove: false, readonlyRootfs: false, privileged: false, capAdd: [], capDrop: [], securityOpt: [], init: false, ulimits: [], mounts: [],
    networkMode: 'none', logMaxSize: 10 * 1024 * 1024, logMaxFiles: 3, runtime: 'berth', ...overrides,
  };
}

/** A container's network config with `overrides`, else as `--network none` without flags records it. */
export function networkConfig(overrides: Partial<NetworkConfig> = {}): NetworkConfig {
  return {
    portBindings: [], publishAll: false, exposedPorts: [], dns: [], dnsSearch: [], dnsOptions: [], extraHosts: [], ipAddress: '', macAddress: '', aliases: [],
    ...overrides,
  };
}

/** What {@link recordEngine} gives. */
export interface RecordEngine {
  readonly engine: ContainerEngine;
  readonly layout: StateLayout;
  /**
   * Records a container: `exited` (with `exitCode`, `finishedAt`) in the database only;
   * `created` and `running` as this test process (a live pid), started at `startedAt`.
   */
  add(name: string, options?: { state?: 'created' | 'running' | 'exited'; config?: Partial<ContainerConfig>; created?: string; startedAt?: string; finishedAt?: string; exitCode?: number; imageName?: string }): ContainerRecord;
  cleanup(): void;
}

/** A fresh store and engine; the engine resolves no images. */
export function recordEngine(): RecordEngine {
  const root = mkdtempSync(join(tmpdir(), 'berth-engine-'));
  const layout = new StateLayout(join(root, 'lib'), join(root, 'run'));
  const db = MetadataDb.open(layout.database());
  const engine = new ContainerEngine({
    layout, db, cgroups: hostCgroups('/berth-unit-test'), berthCommand: ['berth'],
    resolveImage: async (ref) => {
      throw new NotFoundError(`No such image: ${ref}`);
    },
    readImageConfig: async () => ({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } }),
  });
  let n = 0;
  return {
    engine, layout,
    add(name, options = {}) {
      n++;
      const id = `${String(n).padStart(2, '0')}${'ab'.repeat(31)}`;
      engine.records.insert({
        id, name, imageId: `sha256:${'cd'.repeat(32)}`, imageName: options.imageName ?? 'busybox',
        created: options.created ?? new Date(Date.UTC(2024, 0, 1, 0, 0, n)).toISOString(), config: containerConfig(options.config),
      });
      const state = options.state ?? 'exited';
      if (state === 'running' || state === 'created') {
        engine.records.update(id, { state, pid: process.pid, pidStart: processStartTime(process.pid) ?? '', startedAt: options.startedAt ?? new Date().toISOString() });
      } else {
        engine.records.update(id, {
          state, exitCode: options.exitCode ?? 0, finishedAt: options.finishedAt ?? '', ...(options.startedAt === undefined ? {} : { startedAt: options.startedAt }),
        });
      }
      const record = engine.records.byId(id);
      if (record === undefined) throw new Error(`record ${id} is gone`);
      return record;
    },
    cleanup() {
      db.close();
      rmSync(root, { recursive: true, force: true });
    },
  };
}

