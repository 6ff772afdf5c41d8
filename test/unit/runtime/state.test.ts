/**
 * The state table and the compare-and-set writes (runtime/state.ts, containers.ts): which
 * operation is allowed in which status, one message per refusal, and a write that only
 * lands when the recorded state is the one expected.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { MetadataDb } from '../../../common/metadata.js';
import { StateLayout } from '../../../common/paths.js';
import { processStartTime } from '../../../common/process.js';
import type { ContainerConfig } from '../../../runtime/config.js';
import { ContainerRecords, type ContainerRecord } from '../../../runtime/containers.js';
import { containerView, ownedByMe, requireAllowed, type ContainerStatus, type ContainerView, type Operation } from '../../../runtime/state.js';

const config = { runtime: 'berth', mounts: [] } as unknown as ContainerConfig;

function viewOf(status: ContainerStatus, record: Partial<ContainerRecord> = {}): ContainerView {
  const r = { id: 'a'.repeat(64), name: 'web', state: 'running', ownerPid: 0, ownerStart: '', ...record } as ContainerRecord;
  return { record: r, status, running: status === 'running' || status === 'paused', exitCode: 0, finishedAt: '', signal: 0, oomKilled: false };
}

function refusal(op: Operation, view: ContainerView): string | undefined {
  try {
    requireAllowed(op, view);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

describe('the state table', () => {
  it('refuses each operation where docker does, in its words', () => {
    expect(refusal('exec', viewOf('exited'))).toBe(`Container ${'a'.repeat(64)} is not running`);
    expect(refusal('exec', viewOf('paused'))).toBe(`Container ${'a'.repeat(64)} is paused, unpause the container before exec`);
    expect(refusal('remove', viewOf('running'))).toBe(`You cannot remove a running container ${'a'.repeat(64)}`);
    expect(refusal('kill', viewOf('created'))).toBe('Cannot kill container: web is not running');
    expect(refusal('pause', viewOf('paused'))).toBe(`Container ${'a'.repeat(64)} is already paused`);
    expect(refusal('unpause', viewOf('running'))).toBe(`Container ${'a'.repeat(64)} is not paused`);
    expect(refusal('start', viewOf('paused'))).toBe('Cannot start a paused container web');
    expect(refusal('update', viewOf('dead'))).toBe('Cannot update container web: it is dead');
    expect(refusal('start', viewOf('removing', { state: 'removing' }))).toBe('Removal of container web is already in progress');
  });

  it('refuses everything but a forced removal of a container another berth is creating', () => {
    const creating = viewOf('created', { state: 'creating', ownerPid: process.ppid, ownerStart: processStartTime(process.ppid) ?? '' });
    expect(refusal('remove', creating)).toBe('Container web is being created');
    expect(refusal('start', creating)).toBe('Container web is being created');
    expect(refusal('forceRemove', creating)).toBeUndefined();
  });

  it('allows what does nothing or finishes a job: start of a running one, stop of an exited one, rm -f of a removal cut short', () => {
    expect(refusal('start', viewOf('running'))).toBeUndefined();
    expect(refusal('stop', viewOf('exited'))).toBeUndefined();
    expect(refusal('forceRemove', viewOf('removing', { state: 'removing' }))).toBeUndefined();
    expect(refusal('remove', viewOf('dead'))).toBeUndefined();
  });
});

describe('containerView', () => {
  const record = (fields: Partial<ContainerRecord>): ContainerRecord => ({ ...viewOf('running').record, pid: 0, pidStart: '', monitorPid: 0, exitCode: 0, finishedAt: '', ...fields } as ContainerRecord);

  it('a record being created is created while its owner lives, dead once it died', () => {
    expect(containerView(record({ state: 'creating', ...ownedByMe() }), () => undefined).status).toBe('created');
    expect(containerView(record({ state: 'creating', ownerPid: 999_999_999, ownerStart: '1' }), () => undefined).status).toBe('dead');
  });

  it('an exit the monitor recorded makes a running record exited, with its status', () => {
    const view = containerView(record({ state: 'running', pid: process.pid, pidStart: processStartTime(process.pid) ?? '' }),
      () => ({ exitCode: 3, signal: 0, finishedAt: '2026-01-01T00:00:00Z', oomKilled: true }));
    expect(view).toMatchObject({ status: 'exited', running: false, exitCode: 3, oomKilled: true });
  });

  it('a first process and monitor both gone without a record is exited with 255', () => {
    expect(containerView(record({ state: 'running', pid: 999_999_999, pidStart: '1', monitorPid: 999_999_998 }), () => undefined))
      .toMatchObject({ status: 'exited', exitCode: 255 });
  });
});

describe('ContainerRecords.compareAndSet', () => {
  let root: string;
  let db: MetadataDb;
  let records: ContainerRecords;

  beforeEach(() => {
    root = mkdtempSync(join(tmpdir(), 'berth-state-'));
    db = MetadataDb.open(new StateLayout(root, join(root, 'run')).database());
    records = new ContainerRecords(db);
    records.insert({ id: 'b'.repeat(64), name: 'c1', imageId: 'sha256:x', imageName: 'x', created: '2026-01-01T00:00:00Z', config });
  });

  afterEach(() => {
    db.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('writes only when the recorded state is one of those expected, and says so', () => {
    const id = 'b'.repeat(64);
    expect(records.compareAndSet(id, ['created'], { state: 'running' })).toBe(false);
    expect(records.byId(id)?.state).toBe('creating');
    expect(records.compareAndSet(id, ['creating'], { state: 'created', pid: 42, ...ownedByMe() })).toBe(true);
    expect(records.byId(id)).toMatchObject({ state: 'created', pid: 42, ownerPid: process.pid });
    // The second of two racers expecting the same state loses.
    expect(records.compareAndSet(id, ['created'], { state: 'running' })).toBe(true);
    expect(records.compareAndSet(id, ['created'], { state: 'running' })).toBe(false);
    expect(records.compareAndSet('c'.repeat(64), ['running'], { state: 'exited' })).toBe(false);
  });

  it('rename refuses a container being removed', () => {
    const id = 'b'.repeat(64);
    records.compareAndSet(id, ['creating'], { state: 'removing' });
    expect(() => records.rename(id, 'c2')).toThrow(`Cannot rename container ${id}: it is being removed`);
    expect(records.byId(id)?.name).toBe('c1');
  });
});
