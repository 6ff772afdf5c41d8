/**
 * Validation of image documents against the official OCI JSON schemas, copied unmodified
 * from opencontainers/image-spec and runtime-spec into oci/schema/ (Apache-2.0, see the
 * LICENSE files beside them). The schemas are draft-04, hence ajv-draft-04.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ajvDraft04 from 'ajv-draft-04';
import ajvFormats from 'ajv-formats';
import type { ValidateFunction } from 'ajv';

// Both packages are CommonJS with the class on `.default`.
const Ajv04 = ajvDraft04.default;
const addFormats = ajvFormats.default;

/** The documents berth validates. */
export type SchemaName = 'manifest' | 'index' | 'config' | 'layout' | 'runtime-config' | 'runtime-state';

const imageSchemas = [
  'defs.json',
  'defs-descriptor.json',
  'content-descriptor.json',
  'image-manifest-schema.json',
  'image-index-schema.json',
  'config-schema.json',
  'image-layout-schema.json',
] as const;

const runtimeSchemas = ['defs.json', 'defs-linux.json', 'defs-vm.json', 'defs-windows.json', 'defs-zos.json',
  'defs-freebsd.json', 'config-linux.json', 'config-solaris.json', 'config-windows.json', 'config-vm.json',
  'config-zos.json', 'config-freebsd.json', 'config-schema.json', 'state-schema.json'] as const;

const baseUri = 'berth:/oci/';

const schemaIds: Readonly<Record<SchemaName, string>> = {
  manifest: `${baseUri}image/image-manifest-schema.json`,
  index: `${baseUri}image/image-index-schema.json`,
  config: `${baseUri}image/config-schema.json`,
  layout: `${baseUri}image/image-layout-schema.json`,
  'runtime-config': `${baseUri}runtime/config-schema.json`,
  'runtime-state': `${baseUri}runtime/state-schema.json`,
};

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

/** Result of a validation: undefined when valid, otherwise the problems found. */
export type SchemaProblems = readonly string[] | undefined;

/**
 * Validates documents against the OCI schemas. Compiling the schemas costs a few
 * milliseconds, so a validator compiles each one on first use only.
 */
export class SchemaValidator {
  readonly #ajv: InstanceType<typeof Ajv04>;
  readonly #compiled = new Map<SchemaName, ValidateFunction>();

  constructor() {
    this.#ajv = new Ajv04({ allErrors: true, strict: false, validateFormats: true });
    addFormats(this.#ajv);
    const load = (dir: string, file: string): void => {
      const url = new URL(`./schema/${dir}/${file}`, import.meta.url);
      const schema = stripIds(JSON.parse(readFileSync(fileURLToPath(url), 'utf8')));
      this.#ajv.addSchema(schema as object, `${baseUri}${dir}/${file}`);
    };
    for (const file of imageSchemas) load('image', file);
    for (const file of runtimeSchemas) load('runtime', file);
  }

  /** Checks `doc` against the named schema. */
  validate(name: SchemaName, doc: unknown): SchemaProblems {
    let fn = this.#compiled.get(name);
    if (fn === undefined) {
      fn = this.#ajv.getSchema(schemaIds[name]);
      if (fn === undefined) throw new Error(`OCI schema ${name} is not registered`);
      this.#compiled.set(name, fn);
    }
    if (fn(doc)) return undefined;
    return (fn.errors ?? []).map((e) => `${e.instancePath === '' ? '(document)' : e.instancePath} ${e.message ?? 'is invalid'}`);
  }
}
