/**
 * Validation of image and runtime documents against the official OCI JSON schemas
 * (oci/schema/, compiled by schema-ajv.ts). {@link SchemaValidator.load} brings ajv in on
 * first use, so commands that check no documents do not pay for loading it.
 */
import type { ValidateFunction } from 'ajv';

/** The documents berth validates. */
export type SchemaName = 'manifest' | 'index' | 'config' | 'layout' | 'runtime-config' | 'runtime-state';

/** Result of a validation: undefined when valid, otherwise the problems found. */
export type SchemaProblems = readonly string[] | undefined;

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
 * Validates documents against the OCI schemas. Create one with {@link SchemaValidator.load};
 * it compiles each schema on first use and may be shared for the life of the process.
 */
export class SchemaValidator {
  readonly #lookup: (uri: string) => ValidateFunction | undefined;

  private constructor(lookup: (uri: string) => ValidateFunction | undefined) {
    this.#lookup = lookup;
  }

  /** Loads ajv and the schemas. */
  static async load(): Promise<SchemaValidator> {
    const { compileSchemas } = await import('./schema-ajv.js');
    return new SchemaValidator(compileSchemas(baseUri));
  }

  /** Checks `doc` against the named schema. */
  validate(name: SchemaName, doc: unknown): SchemaProblems {
    const fn = this.#lookup(schemaIds[name]);
    if (fn === undefined) throw new Error(`OCI schema ${name} is not registered`);
    if (fn(doc)) return undefined;
    return (fn.errors ?? []).map((e) => `${e.instancePath === '' ? '(document)' : e.instancePath} ${e.message ?? 'is invalid'}`);
  }
}
