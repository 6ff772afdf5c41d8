/**
 * The ajv side of oci/schema.ts, loaded on first use only: ajv and the schemas are a few
 * hundred KiB of JavaScript that commands without documents to check never need. The
 * schemas are copied unmodified from opencontainers/image-spec and runtime-spec into
 * oci/schema/ (Apache-2.0, see the LICENSE files beside them); they are draft-04, hence
 * ajv-draft-04.
 */
import ajvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';
import imageDefs from './schema/image/defs.json' with { type: 'json' };
import imageDefsDescriptor from './schema/image/defs-descriptor.json' with { type: 'json' };
import imageContentDescriptor from './schema/image/content-descriptor.json' with { type: 'json' };
import imageImageManifestSchema from './schema/image/image-manifest-schema.json' with { type: 'json' };
import imageImageIndexSchema from './schema/image/image-index-schema.json' with { type: 'json' };
import imageConfigSchema from './schema/image/config-schema.json' with { type: 'json' };
import imageImageLayoutSchema from './schema/image/image-layout-schema.json' with { type: 'json' };
import runtimeDefs from './schema/runtime/defs.json' with { type: 'json' };
import runtimeDefsLinux from './schema/runtime/defs-linux.json' with { type: 'json' };
import runtimeDefsVm from './schema/runtime/defs-vm.json' with { type: 'json' };
import runtimeDefsWindows from './schema/runtime/defs-windows.json' with { type: 'json' };
import runtimeDefsZos from './schema/runtime/defs-zos.json' with { type: 'json' };
import runtimeDefsFreebsd from './schema/runtime/defs-freebsd.json' with { type: 'json' };
import runtimeConfigLinux from './schema/runtime/config-linux.json' with { type: 'json' };
import runtimeConfigSolaris from './schema/runtime/config-solaris.json' with { type: 'json' };
import runtimeConfigWindows from './schema/runtime/config-windows.json' with { type: 'json' };
import runtimeConfigVm from './schema/runtime/config-vm.json' with { type: 'json' };
import runtimeConfigZos from './schema/runtime/config-zos.json' with { type: 'json' };
import runtimeConfigFreebsd from './schema/runtime/config-freebsd.json' with { type: 'json' };
import runtimeConfigSchema from './schema/runtime/config-schema.json' with { type: 'json' };
import runtimeStateSchema from './schema/runtime/state-schema.json' with { type: 'json' };


// Both packages are CommonJS with the class on `.default`.
const Ajv04 = ajvDraft04.default;
const addFormats = ajvFormats.default;

// Imported rather than read at run time, so that the bundled CLI carries them.
const imageSchemas: readonly (readonly [string, unknown])[] = [
  ['defs.json', imageDefs],
  ['defs-descriptor.json', imageDefsDescriptor],
  ['content-descriptor.json', imageContentDescriptor],
  ['image-manifest-schema.json', imageImageManifestSchema],
  ['image-index-schema.json', imageImageIndexSchema],
  ['config-schema.json', imageConfigSchema],
  ['image-layout-schema.json', imageImageLayoutSchema],
];

const runtimeSchemas: readonly (readonly [string, unknown])[] = [
  ['defs.json', runtimeDefs],
  ['defs-linux.json', runtimeDefsLinux],
  ['defs-vm.json', runtimeDefsVm],
  ['defs-windows.json', runtimeDefsWindows],
  ['defs-zos.json', runtimeDefsZos],
  ['defs-freebsd.json', runtimeDefsFreebsd],
  ['config-linux.json', runtimeConfigLinux],
  ['config-solaris.json', runtimeConfigSolaris],
  ['config-windows.json', runtimeConfigWindows],
  ['config-vm.json', runtimeConfigVm],
  ['config-zos.json', runtimeConfigZos],
  ['config-freebsd.json', runtimeConfigFreebsd],
  ['config-schema.json', runtimeConfigSchema],
  ['state-schema.json', runtimeStateSchema],
];

/**
 * The upstream schemas carry draft-04 `id`s that do not agree with their file names
 * (content-descriptor.json says ".../schema/descriptor", nested properties have ids of
 * their own), so their relative `$ref`s only resolve the way upstream's own file-based
 * loader resolves them: by file name, in the same folder. Dropping the ids gives that.
 */
function stripIds(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(stripIds);
  if (node === null || typeof node !== 'object') return node;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(node)) {
    if (key === 'id' && typeof value === 'string') continue;
    out[key] = stripIds(value);
  }
  return out;
}

/**
 * Compiles every OCI schema into one ajv instance and returns a lookup from a schema's
 * registered URI (`<base>image/<file>`, `<base>runtime/<file>`) to its validate function.
 */
export function compileSchemas(base: string): (uri: string) => ValidateFunction | undefined {
  const ajv = new Ajv04({ allErrors: true, strict: false, validateFormats: true });
  addFormats(ajv);
  for (const [file, schema] of imageSchemas) ajv.addSchema(stripIds(schema) as object, `${base}image/${file}`);
  for (const [file, schema] of runtimeSchemas) ajv.addSchema(stripIds(schema) as object, `${base}runtime/${file}`);
  return (uri) => ajv.getSchema(uri);
}
