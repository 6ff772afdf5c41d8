import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SchemaValidator } from '../../../oci/index.js';

const validator = await SchemaValidator.load();
const d = `sha256:${'a'.repeat(64)}`;

describe('SchemaValidator', () => {
  it('accepts a minimal OCI manifest and rejects a wrong schemaVersion', () => {
    const manifest = {
      schemaVersion: 2, mediaType: 'application/vnd.oci.image.manifest.v1+json',
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: d, size: 2 },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', digest: d, size: 3 }],
    };
    expect(validator.validate('manifest', manifest)).toBeUndefined();
    expect(validator.validate('manifest', { ...manifest, schemaVersion: 1 })).toContain('/schemaVersion must be >= 2');
  });

  it('rejects an index entry with a malformed digest', () => {
    const index = { schemaVersion: 2, manifests: [{ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: 'nope', size: 1 }] };
    expect(validator.validate('index', index)?.join()).toMatch(/digest/);
  });

  it('rejects a config without rootfs', () => {
    expect(validator.validate('config', { architecture: 'amd64', os: 'linux' })?.join()).toContain("must have required property 'rootfs'");
  });

  // The upstream runtime-spec good/bad examples (runtime-spec schema/test, Apache-2.0),
  // copied into test/fixtures/runtime-spec/.
  const examples = join(import.meta.dirname, '..', '..', 'fixtures', 'runtime-spec');
  const cases = (['config', 'state'] as const).flatMap((kind) =>
    (['good', 'bad'] as const).flatMap((verdict) =>
      readdirSync(join(examples, kind, verdict)).map((file) => ({ kind, verdict, file: join(kind, verdict, file) }))));

  it('has the upstream examples', () => {
    expect(cases.length).toBeGreaterThan(10);
  });

  it.each(cases)('runtime example $file is $verdict', ({ kind, verdict, file }) => {
    const text = readFileSync(join(examples, file), 'utf8');
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch {
      expect(verdict).toBe('bad');
      return;
    }
    const problems = validator.validate(kind === 'config' ? 'runtime-config' : 'runtime-state', doc);
    if (verdict === 'good') expect(problems).toBeUndefined();
    else expect(problems).toBeDefined();
  });
});
