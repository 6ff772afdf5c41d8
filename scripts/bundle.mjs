// Bundles the CLI into dist/berth.mjs with esbuild: one file instead of hundreds of modules
// halves berth's start-up time (module resolution dominated it). better-sqlite3 stays
// external: it loads its native addon relative to its own package.
import { build } from 'esbuild';

await build({
  entryPoints: ['cmd/main.ts'],
  outfile: 'dist/berth.mjs',
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
