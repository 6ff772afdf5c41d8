#!/usr/bin/env node
// Enforces STYLE.md §1: imports only go down the layering table, nothing imports cmd or
// api, cross-module imports go through the module's index.ts (common/ excepted: it is a
// toolkit of independent small files), no import cycles between files, and cmd stays
// thin (it parses argv, calls and prints: no sockets, processes, database, layers,
// registry or ids of its own, and no synchronous file writes), and the backend a container's
// record names is told apart in one place (runtime/ops/context.ts and the backends
// themselves): no `runtime === 'berth'` branches anywhere else.
// Exit 0 when clean, 1 with one line per problem otherwise.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';

// The tree to check: the repository, or a directory given as the first argument (tests).
const root = resolve(process.argv[2] ?? join(dirname(new URL(import.meta.url).pathname), '..'));
const allowed = {
  cmd: ['runtime', 'image', 'network', 'vm', 'cgroups', 'common', 'oci'],
  api: ['runtime', 'image', 'network', 'vm', 'cgroups', 'common', 'oci'],
  runtime: ['image', 'network', 'vm', 'cgroups', 'common', 'oci'],
  image: ['common', 'oci'],
  network: ['common', 'oci'],
  vm: ['common', 'oci'],
  cgroups: ['common', 'oci'],
  common: ['oci'],
  oci: [],
};
const deepImportsAllowed = new Set(['common']);

// What cmd/ must not import: what the API server needs too lives below it (DESIGN.md:
// docker's semantics live in runtime), and so do the system's sockets and processes.
const thinFrontEnds = new Set(['cmd']);
const frontEndForbidden = new Map([
  ['net', 'sockets (the attach protocol, DNS) are runtime\'s and network\'s'],
  ['dgram', 'sockets (the attach protocol, DNS) are runtime\'s and network\'s'],
  ['child_process', 'running host programs is runtime\'s (behind common/sys)'],
  ['worker_threads', 'worker threads are image\'s (layer unpacking)'],
  ['crypto', 'ids and digests are made in runtime, image, network and common'],
  ['better-sqlite3', 'the metadata database is common/metadata.ts\'s'],
  ['tar-stream', 'layers and archives are image\'s and runtime\'s'],
  ['undici', 'the registry client is image\'s'],
]);
// Synchronous fs calls cmd may make: reading its own inputs (--env-file) and checks.
const syncReadsAllowed = new Set(['existsSync', 'readFileSync', 'statSync', 'lstatSync', 'readdirSync', 'readlinkSync', 'realpathSync', 'accessSync']);
const fsImportPattern = /(?:^|\n)\s*import\s+(type\s+)?([^'"]*?)\s+from\s+['"](?:node:)?fs['"]/g;

/** A comparison of a runtime name with berth's own: the backend switch. */
const backendSwitchPattern = /\bruntime\s*[!=]==?\s*['"]berth['"]|['"]berth['"]\s*[!=]==?\s*[\w.]*runtime\b|\bname\s*===\s*['"]berth['"]/;
/** Where the switch may be: the one place that picks a backend, and the backends. */
function backendSwitchAllowed(where) {
  return where === join('runtime', 'ops', 'context.ts') || where.startsWith(join('runtime', 'backends') + sep);
}

/** Problems of a front end's file with the thin rule: forbidden packages and sync writes. */
function thinProblems(where, text) {
  const out = [];
  for (const m of text.matchAll(importPattern)) {
    const spec = m[1] ?? m[2];
    if (spec.startsWith('.')) continue;
    const name = spec.replace(/^node:/, '').split('/')[0];
    const why = frontEndForbidden.get(name);
    if (why !== undefined) out.push(`${where}: cmd/ must not import "${spec}": ${why}; see STYLE.md §1 (front ends stay thin)`);
  }
  for (const m of text.matchAll(fsImportPattern)) {
    if (m[1] !== undefined) continue;
    const clause = m[2].trim();
    const named = /^\{([^}]*)\}$/.exec(clause);
    if (named === null) {
      out.push(`${where}: cmd/ must import node:fs's functions by name ("${clause}"), so that its writes can be checked`);
      continue;
    }
    for (const part of named[1].split(',')) {
      const fn = part.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0];
      if (fn.endsWith('Sync') && !syncReadsAllowed.has(fn)) {
        out.push(`${where}: cmd/ must not write files synchronously ("${fn}"): writes are runtime's, image's and common's; see STYLE.md §1 and §2`);
      }
    }
  }
  return out;
}
const modules = Object.keys(allowed);

function* sourceFiles(dir) {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (name === 'node_modules' || name === 'build' || name === 'schema') continue;
    if (statSync(path).isDirectory()) yield* sourceFiles(path);
    else if (name.endsWith('.ts') && !name.endsWith('.d.ts')) yield path;
  }
}

const importPattern = /(?:^|\n)\s*(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g;

function moduleOf(file) {
  return relative(root, file).split(sep)[0];
}

const problems = [];
const graph = new Map();
for (const mod of modules) {
  let files = [];
  try {
    files = [...sourceFiles(join(root, mod))];
  } catch {
    continue;
  }
  for (const file of files) {
    const text = readFileSync(file, 'utf8');
    const edges = [];
    if (thinFrontEnds.has(mod)) problems.push(...thinProblems(relative(root, file), text));
    if (!backendSwitchAllowed(relative(root, file)) && backendSwitchPattern.test(text)) {
      problems.push(`${relative(root, file)}: branches on a container's runtime ("${backendSwitchPattern.exec(text)?.[0]}"): go through its Backend (runtime/ops/context.ts backendOf)`);
    }
    for (const m of text.matchAll(importPattern)) {
      const spec = m[1] ?? m[2];
      if (!spec.startsWith('.')) continue;
      const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
      const targetMod = moduleOf(target);
      const where = relative(root, file);
      if (targetMod !== mod) {
        if (!modules.includes(targetMod)) {
          problems.push(`${where}: imports "${spec}" from outside the source modules`);
        } else if (!allowed[mod].includes(targetMod)) {
          problems.push(`${where}: ${mod}/ must not import ${targetMod}/ ("${spec}"); see STYLE.md §1`);
        } else if (!deepImportsAllowed.has(targetMod) && relative(join(root, targetMod), target) !== 'index.ts') {
          problems.push(`${where}: import ${targetMod}/ through its index.ts, not "${spec}"`);
        }
      }
      edges.push(target);
    }
    graph.set(file, edges);
  }
}

// Cycles between files (Tarjan's strongly connected components).
let index = 0;
const stack = [];
const info = new Map();
function strongConnect(v) {
  info.set(v, { index, low: index, onStack: true });
  index++;
  stack.push(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!info.has(w)) {
      strongConnect(w);
      info.get(v).low = Math.min(info.get(v).low, info.get(w).low);
    } else if (info.get(w).onStack) {
      info.get(v).low = Math.min(info.get(v).low, info.get(w).index);
    }
  }
  if (info.get(v).low === info.get(v).index) {
    const component = [];
    let w;
    do {
      w = stack.pop();
      info.get(w).onStack = false;
      component.push(relative(root, w));
    } while (w !== v);
    if (component.length > 1) problems.push(`import cycle: ${component.sort().join(' <-> ')}`);
  }
}
for (const v of graph.keys()) if (!info.has(v)) strongConnect(v);

if (problems.length > 0) {
  for (const p of problems) console.error(p);
  console.error(`lint-layers: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log(`lint-layers: ${graph.size} files, layering and cycles ok`);
