// Bundles the CLI into dist/berth.mjs with esbuild: one file instead of hundreds of modules
// halves berth's start-up time (module resolution dominated it). better-sqlite3 stays
// external: it loads its native addon relative to its own package.
import { build } from 'esbuild';

// The CLI, and the layer-unpack worker it starts (image/unpack-worker.ts; found next to
// the CLI by cmd/context.ts).
await build({
  entryPoints: { berth: 'cmd/main.ts', 'unpack-worker': 'image/unpack-worker.ts' },
  outdir: 'dist',
  outExtension: { '.js': '.mjs' },
  // Dynamic imports (undici) become chunks loaded only by the commands that need them.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['better-sqlite3'],
  sourcemap: 'linked',
  logLevel: 'warning',
  // CommonJS dependencies bundled into ESM still call require() for Node built-ins.
  banner: { js: "import { createRequire as __berthRequire } from 'node:module'; const require = __berthRequire(import.meta.url);" },
});
