/**
 * `image inspect` output in the shape docker prints it (Engine API ImageInspect), including
 * `GraphDriver` as docker's overlay2 driver shows it: `UpperDir` the top layer's directory
 * and `LowerDir` the others, colon-separated, topmost first.
 */
import { InvalidContentError } from '../common/errors.js';
import type { ImageConfig, SchemaValidator } from '../oci/index.js';
import type { ContentStore } from './content-store.js';
import type { ImageRecord } from './image-records.js';
import { familiarString, parseReference } from './reference.js';

/** Builds the docker-shaped inspect document of an image. */
export async function inspectImage(image: ImageRecord, store: ContentStore, validator: SchemaValidator): Promise<Record<string, unknown>> {
  const bytes = await store.readBlob(image.id);
  let config: unknown;
  try {
    config = JSON.parse(bytes.toString('utf8'));
  } catch (err) {
    throw new InvalidContentError(`The config of image "${image.id}" in the store is not valid JSON`, { cause: err });
  }
  const problems = validator.validate('config', config);
  if (problems !== undefined) throw new InvalidContentError(`The config of image "${image.id}" in the store is invalid: ${problems.join('; ')}`);
  const c = config as ImageConfig;
  const exec = c.config ?? {};
  const dirs = image.layers.map((l) => store.layerDiffDir(l.diffId)).reverse();
  const [upper, ...lower] = dirs;
  return {
    Id: image.id,
    RepoTags: image.tags.map((t) => familiarString(parseReference(t))),
    RepoDigests: image.repoDigests.map((d) => familiarString(parseReference(d))),
    Parent: '',
    Comment: c.history?.at(-1)?.comment ?? '',
    Created: c.created ?? '0001-01-01T00:00:00Z',
    DockerVersion: '',
    Author: c.author ?? '',
    Config: {
      Hostname: '', Domainname: '', User: exec.User ?? '', AttachStdin: false, AttachStdout: false, AttachStderr: false,
      ExposedPorts: exec.ExposedPorts, Tty: false, OpenStdin: false, StdinOnce: false,
      Env: exec.Env ?? null, Cmd: exec.Cmd ?? null, Image: '', Volumes: exec.Volumes ?? null,
      WorkingDir: exec.WorkingDir ?? '', Entrypoint: exec.Entrypoint ?? null, OnBuild: null, Labels: exec.Labels ?? null,
      StopSignal: exec.StopSignal,
    },
    Architecture: c.architecture,
    Variant: c.variant,
    Os: c.os,
    Size: image.size,
    GraphDriver: {
      Data: { ...(lower.length > 0 ? { LowerDir: lower.join(':') } : {}), UpperDir: upper },
      Name: 'overlay2',
    },
    RootFS: { Type: 'layers', Layers: c.rootfs.diff_ids },
    Metadata: { LastTagTime: image.pulledAt },
  };
}
