import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { containerSummary, psFilters, selectContainers, statusText } from '../../../runtime/index.js';
import { networkConfig, recordEngine, type RecordEngine } from '../../helpers/engine.js';

let t: RecordEngine;
beforeEach(() => {
  t = recordEngine();
});
afterEach(() => t.cleanup());

const names = (views: readonly { record: { name: string } }[]): string[] => views.map((v) => v.record.name);

describe('the container listing', () => {
  it('shows running containers, newest first, and stopped ones with all, a limit or a status filter', () => {
    t.add('old', { state: 'exited' });
    t.add('web', { state: 'running' });
    t.add('new', { state: 'created' });
    const none = new Map<string, string[]>();
    expect(names(selectContainers(t.engine, { filters: none }, () => undefined))).toEqual(['web']);
    expect(names(selectContainers(t.engine, { all: true, filters: none }, () => undefined))).toEqual(['new', 'web', 'old']);
    expect(names(selectContainers(t.engine, { limit: 2, filters: none }, () => undefined))).toEqual(['new', 'web']);
    expect(names(selectContainers(t.engine, { limit: -1, filters: none }, () => undefined))).toEqual(['web']);
    expect(names(selectContainers(t.engine, { filters: psFilters(['status=exited']) }, () => undefined))).toEqual(['old']);
  });

  it('filters by name (a pattern), id prefix, label and ancestor, values of one key being alternatives', () => {
    const a = t.add('web-1', { config: { labels: { tier: 'front', x: '' } }, imageName: 'nginx:1' });
    t.add('db', { config: { labels: { tier: 'back' } } });
    const select = (filters: string[], imageIdOf: (ref: string) => string | undefined = () => undefined): string[] =>
      names(selectContainers(t.engine, { all: true, filters: psFilters(filters) }, imageIdOf));
    expect(select(['name=^web'])).toEqual(['web-1']);
    expect(select(['name=web', 'name=db'])).toEqual(['db', 'web-1']);
    expect(select([`id=${a.id.slice(0, 3)}`])).toEqual(['web-1']);
    expect(select(['label=tier=back'])).toEqual(['db']);
    expect(select(['label=x'])).toEqual(['web-1']);
    expect(select(['ancestor=nginx:1'])).toEqual(['web-1']);
    expect(select(['ancestor=busybox'])).toEqual(['db']);
    expect(select(['ancestor=other'], () => a.imageId)).toEqual(['db', 'web-1']);
    expect(select(['ancestor=cdcd'])).toEqual(['db', 'web-1']);
  });

  it('refuses a status that is none of docker\'s and a key it does not know', () => {
    expect(() => psFilters(['status=up'])).toThrow("Invalid filter 'status=up'");
    expect(() => psFilters(['colour=red'])).toThrow('Invalid filter "colour"');
  });

  it('words the status as docker does', () => {
    const now = Date.parse('2024-01-01T01:00:00Z');
    const exited = t.engine.find(t.add('a', { state: 'exited', exitCode: 3, finishedAt: '2024-01-01T00:59:57Z' }).id);
    expect(statusText(exited, now)).toBe('Exited (3) 3 seconds ago');
    expect(statusText(t.engine.find(t.add('b', { state: 'exited' }).id), now)).toBe('Exited (0) N/A');
    expect(statusText(t.engine.find(t.add('c', { state: 'created' }).id), now)).toBe('Created');
    const running = t.engine.find(t.add('d', { state: 'running', startedAt: '2024-01-01T00:58:00Z' }).id);
    expect(statusText(running, now)).toBe('Up 2 minutes');
    expect(statusText({ ...running, status: 'paused' }, now)).toBe('Up 2 minutes (Paused)');
  });

  it('summarises a container: its command, network mode without networks, exposed ports only while running', async () => {
    const config = { networkMode: 'host', net: networkConfig({ exposedPorts: ['80/tcp'] }) };
    const stopped = await containerSummary(t.engine, t.engine.find(t.add('a', { config }).id), { size: true });
    expect(stopped).toMatchObject({ command: 'sh -c echo hi', networks: ['host'], ports: [], exposed: [], sizeRw: 0 });
    const running = await containerSummary(t.engine, t.engine.find(t.add('b', { state: 'running', config }).id));
    expect(running).toMatchObject({ exposed: ['80/tcp'], sizeRw: undefined });
    expect(running.status).toMatch(/^Up /);
  });
});
