// Bundles the CLI into dist/berth.cjs with esbuild, the one file bin/berth loads.
//
// Start-up is most of a short command's time, so the bundle is shaped for it:
// - one CommonJS file: no module resolution at start, and CommonJS can be compiled from
//   V8's code cache (vm.Script cachedData; Node 20 has no such API for ES modules), which
//   bin/berth keeps in dist/berth.cjs.cache;
// - better-sqlite3's JavaScript is bundled and its addon copied to dist/native, loaded by
//   path (common/metadata.ts), so opening the database resolves no package;
// - modules imported with import() are bundled too, but their top-level code (and the
//   Node built-ins they require) runs only when a command first imports them;
// - pure ASCII, so bin/berth reads it as latin1 without decoding UTF-8.
// The layer-unpack worker (image/unpack-worker.ts) is its own ES module beside it.
import { build } from 'esbuild';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

// Whitespace minified: comments go too, and the file is half the size to read at start.
const common = { bundle: true, platform: 'node', target: 'node20', logLevel: 'warning', legalComments: 'none', charset: 'ascii', minifyWhitespace: true };

rmSync('dist/chunks', { recursive: true, force: true });
rmSync('dist/berth.mjs', { force: true });
rmSync('dist/berth.mjs.map', { force: true });
rmSync('dist/berth.cjs.cache', { force: true });

await build({
  ...common,
  entryPoints: { berth: 'cmd/main.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.cjs' },
  format: 'cjs',
  sourcemap: 'linked',
  // import.meta.url in a CommonJS bundle: the bundle's own URL, so paths relative to the
  // module (dist/native, the unpack worker) resolve from dist/.
  define: { 'import.meta.url': '__berthModuleUrl' },
  banner: { js: "var __berthModuleUrl = require('node:url').pathToFileURL(__filename).href;" },
});

await build({
  ...common,
  entryPoints: { 'unpack-worker': 'image/unpack-worker.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  format: 'esm',
  sourcemap: 'linked',
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
});

const text = readFileSync('dist/berth.cjs');
const wide = text.findIndex((b) => b > 0x7f);
if (wide >= 0) throw new Error(`dist/berth.cjs is not ASCII at byte ${wide}: bin/berth reads it as latin1`);

// bin/berth compiles the bundle with vm.Script, which has no loader for import(): every
// import() must have been bundled (esbuild turns those into lazy requires).
const imports = text.toString('latin1').match(/\bimport\((?!\))/g);
if (imports !== null) throw new Error(`dist/berth.cjs calls import() ${imports.length} time(s): import Node built-ins statically`);

// The code cache, made now from a small command: V8 deserializes a cache whole, so one made
// by whatever heavy command came first (a pull) slowed every later command's start by
// about 9 ms; functions a command needs beyond it are compiled lazily as usual.
execFileSync(process.execPath, ['bin/berth', '--version'], { stdio: 'ignore', env: { ...process.env, NODE_EXTRA_CA_CERTS: '' } });

const addon = join(dirname(createRequire(import.meta.url).resolve('better-sqlite3/package.json')), 'build/Release/better_sqlite3.node');
mkdirSync('dist/native', { recursive: true });
copyFileSync(addon, 'dist/native/better_sqlite3.node');
