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
});
