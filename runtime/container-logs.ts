/**
 * docker logs of a container (`berth logs`, the API's GET /containers/{id}/logs): its
 * json-file log, followed while the container runs or waits to be started.
 */
import type { ContainerEngine, ContainerView } from './engine.js';
import { readLogs, type LogEntry, type ReadLogsOptions } from './logs.js';

/** The log entries of `view`'s container; with `follow`, until it has stopped (or the signal aborts). */
export function containerLogs(engine: Pick<ContainerEngine, 'logPath' | 'records' | 'view'>, view: ContainerView, options: Omit<ReadLogsOptions, 'isRunning'> = {}): AsyncGenerator<LogEntry> {
  const id = view.record.id;
  return readLogs(engine.logPath(id), {
    ...options,
    isRunning: async () => {
      const record = engine.records.byId(id);
      if (record === undefined) return false;
      const v = engine.view(record);
      return v.status === 'running' || v.status === 'created';
    },
  });
}
