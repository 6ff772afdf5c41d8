import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const script = join(import.meta.dirname, '..', '..', 'scripts', 'lint-layers.mjs');
let dir: string | undefined;

function tree(files: Record<string, string>): string {
  dir = mkdtempSync(join(tmpdir(), 'berth-lint-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  return dir;
}

function lint(root: string): { code: number; output: string } {
  try {
    const output = execFileSync('node', [script, root], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, output };
  } catch (err) {
    const e = err as { status: number; stderr: string };
    return { code: e.status, output: e.stderr };
  }
}

afterEach(() => {
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  dir = undefined;
});

describe('lint-layers', () => {
  it('accepts imports that go down the table through index files', () => {
    const root = tree({
      'cmd/main.ts': "import { x } from '../image/index.js';\n",
      'image/index.ts': "export { y as x } from './y.js';\n",
      'image/y.ts': "import { e } from '../common/errors.js';\nexport const y = e;\n",
      'common/errors.ts': "import type { D } from '../oci/index.js';\nexport const e = 1;\n",
      'oci/index.ts': 'export type D = string;\n',
    });
    expect(lint(root).code).toBe(0);
  });

  it('rejects an upward import', () => {
    const root = tree({ 'image/a.ts': "import { run } from '../runtime/index.js';\n", 'runtime/index.ts': 'export const run = 1;\n' });
    const result = lint(root);
    expect(result.code).toBe(1);
    expect(result.output).toContain('image/ must not import runtime/');
  });

  it('rejects a sideways import between image and network', () => {
    const root = tree({ 'image/a.ts': "import { n } from '../network/index.js';\n", 'network/index.ts': 'export const n = 1;\n' });
    expect(lint(root).output).toContain('image/ must not import network/');
  });

  it('rejects a deep import into another module', () => {
    const root = tree({ 'cmd/a.ts': "import { p } from '../image/pull.js';\n", 'image/pull.ts': 'export const p = 1;\n' });
    expect(lint(root).output).toContain('import image/ through its index.ts');
  });

  it('rejects an import cycle between files', () => {
    const root = tree({
      'image/a.ts': "import { b } from './b.js';\nexport const a = b;\n",
      'image/b.ts': "import { a } from './a.js';\nexport const b = a;\n",
    });
    const result = lint(root);
    expect(result.code).toBe(1);
    expect(result.output).toContain('import cycle: image/a.ts <-> image/b.ts');
  });

  it('keeps cmd thin: no sockets, processes, database, layers, registry client or ids of its own', () => {
    const root = tree({
      'cmd/a.ts': "import { connect } from 'node:net';\nimport type { Dispatcher } from 'undici';\n",
      'cmd/b.ts': "const cp = await import('child_process');\nimport Database from 'better-sqlite3';\nimport { createHash } from 'node:crypto';\n",
      'runtime/index.ts': "import { connect } from 'node:net';\nimport { execFile } from 'node:child_process';\nexport const r = 1;\n",
    });
    const result = lint(root);
    expect(result.code).toBe(1);
    expect(result.output).toContain('cmd/a.ts: cmd/ must not import "node:net": sockets');
    expect(result.output).toContain('cmd/a.ts: cmd/ must not import "undici": the registry client is image\'s');
    expect(result.output).toContain('cmd/b.ts: cmd/ must not import "child_process"');
    expect(result.output).toContain('cmd/b.ts: cmd/ must not import "better-sqlite3"');
    expect(result.output).toContain('cmd/b.ts: cmd/ must not import "node:crypto"');
    expect(result.output).not.toContain('runtime/');
    expect(result.output).toContain('lint-layers: 5 problem(s)');
  });

  it('refuses a branch on a container\'s runtime outside the place that picks its backend', () => {
    const root = tree({
      'runtime/limits.ts': "export const f = (r: { config: { runtime: string } }) => r.config.runtime !== 'berth';\n",
      'runtime/ops/start.ts': "export const g = (runtime: string) => 'berth' === runtime;\n",
      'runtime/ops/context.ts': "export const h = (name: string) => name === 'berth';\n",
      'runtime/backends/x.ts': "export const i = (runtime: string) => runtime === 'berth';\n",
    });
    const result = lint(root);
    expect(result.code).toBe(1);
    expect(result.output).toContain('runtime/limits.ts: branches on a container\'s runtime ("runtime !== \'berth\'")');
    expect(result.output).toContain('runtime/ops/start.ts: branches on a container\'s runtime');
    expect(result.output).not.toContain('runtime/ops/context.ts: ');
    expect(result.output).not.toContain('backends/x.ts: ');
    expect(result.output).toContain('lint-layers: 2 problem(s)');
  });

  it('lets cmd read files synchronously but not write them', () => {
    const ok = tree({
      'cmd/a.ts': "import { existsSync, readFileSync as read } from 'node:fs';\nimport { appendFile } from 'node:fs/promises';\n",
      'runtime/index.ts': "import { writeFileSync } from 'node:fs';\nexport const r = 1;\n",
    });
    expect(lint(ok).code).toBe(0);
    rmSync(ok, { recursive: true, force: true });
    const root = tree({
      'cmd/a.ts': "import {\n  readFileSync,\n  appendFileSync,\n} from 'node:fs';\n",
      'cmd/b.ts': "import * as fs from 'fs';\n",
    });
    const result = lint(root);
    expect(result.code).toBe(1);
    expect(result.output).toContain('cmd/a.ts: cmd/ must not write files synchronously ("appendFileSync")');
    expect(result.output).toContain('cmd/b.ts: cmd/ must import node:fs\'s functions by name ("* as fs")');
    expect(result.output).not.toContain('readFileSync');
  });
});
