import { describe, expect, it } from 'vitest';
import { parseImageConfig, parseImageDocument } from '../../../image/documents.js';
import { MediaType, SchemaValidator, type ImageManifest } from '../../../oci/index.js';

const validator = await SchemaValidator.load();
const d = (c: string): string => `sha256:${c.repeat(64)}`;
const manifest = {
  schemaVersion: 2, mediaType: MediaType.ociManifest,
  config: { mediaType: MediaType.ociConfig, digest: d('c'), size: 10 },
  layers: [{ mediaType: MediaType.ociLayerGzip, digest: d('a'), size: 20 }],
};
const json = (doc: unknown): Buffer => Buffer.from(JSON.stringify(doc));

describe('parseImageDocument', () => {
  it('reads a manifest and an index', () => {
    expect(parseImageDocument(json(manifest), MediaType.ociManifest, validator, 'm').kind).toBe('manifest');
    const index = { schemaVersion: 2, mediaType: MediaType.ociIndex, manifests: [{ ...manifest.config, mediaType: MediaType.ociManifest }] };
    expect(parseImageDocument(json(index), MediaType.ociIndex, validator, 'i').kind).toBe('index');
  });

  it('reads a Docker schema 2 manifest served with its own type', () => {
    const docker = { ...manifest, mediaType: MediaType.dockerManifest, config: { ...manifest.config, mediaType: MediaType.dockerConfig } };
    const doc = parseImageDocument(json(docker), MediaType.dockerManifest, validator, 'm');
    expect(doc.mediaType).toBe(MediaType.dockerManifest);
  });

  it('refuses a document that is both index and manifest', () => {
    expect(() => parseImageDocument(json({ ...manifest, manifests: [] }), '', validator, 'the manifest')).toThrowError(
      'Cannot read the manifest: it has both "manifests" and "layers"/"config", so it is both an index and a manifest',
    );
  });

  it('refuses malformed JSON, oversized documents and disagreeing media types', () => {
    expect(() => parseImageDocument(Buffer.from('{'), '', validator, 'x')).toThrowError('Cannot read x: it is not valid JSON');
    expect(() => parseImageDocument(Buffer.alloc(4 * 1024 * 1024 + 1, 0x20), '', validator, 'x')).toThrowError(/more than the 4194304 allowed/);
    expect(() => parseImageDocument(json(manifest), MediaType.dockerManifest, validator, 'x')).toThrowError(/served as/);
  });

  it('refuses invalid digests such as sha256:../x', () => {
    const bad = { ...manifest, layers: [{ ...manifest.layers[0], digest: 'sha256:../x' }] };
    expect(() => parseImageDocument(json(bad), MediaType.ociManifest, validator, 'x')).toThrowError(/Cannot read x/);
  });
});

describe('parseImageConfig', () => {
  const m = manifest as unknown as ImageManifest;
  it('checks one diffID per layer', () => {
    const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [d('b'), d('e')] } };
    expect(() => parseImageConfig(json(config), m, validator, 'cfg')).toThrowError('Cannot read cfg: it lists 2 diffIDs for 1 layers');
    expect(parseImageConfig(json({ ...config, rootfs: { type: 'layers', diff_ids: [d('b')] } }), m, validator, 'cfg').os).toBe('linux');
  });

  it('refuses upper-case hex diffIDs', () => {
    const config = { architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [`sha256:${'B'.repeat(64)}`] } };
    expect(() => parseImageConfig(json(config), m, validator, 'cfg')).toThrowError(/invalid diffID/);
  });
});
