/**
 * OCI image-spec types (descriptor.md, manifest.md, image-index.md, config.md,
 * image-layout.md). Docker's schema 2 manifest and manifest list have the same shape.
 * Values of these types have passed {@link validateImageDocument} (oci/schema.ts).
 */
import type { Digest } from './digest.js';

/** image-spec descriptor.md "Properties". */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: Digest;
  readonly size: number;
  readonly urls?: readonly string[];
  readonly annotations?: Readonly<Record<string, string>>;
  readonly data?: string;
  readonly artifactType?: string;
  readonly platform?: Platform;
}

/** image-index.md "platform". */
export interface Platform {
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
  readonly features?: readonly string[];
}

/** manifest.md "Image Manifest Property Descriptions". */
export interface ImageManifest {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly config: Descriptor;
  readonly layers: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** image-index.md "Image Index Property Descriptions". */
export interface ImageIndex {
  readonly schemaVersion: 2;
  readonly mediaType?: string;
  readonly artifactType?: string;
  readonly manifests: readonly Descriptor[];
  readonly subject?: Descriptor;
  readonly annotations?: Readonly<Record<string, string>>;
}

/** config.md "config" (the execution parameters). */
export interface ImageExecConfig {
  readonly User?: string;
  readonly ExposedPorts?: Readonly<Record<string, object>>;
  readonly Env?: readonly string[];
  readonly Entrypoint?: readonly string[] | null;
  readonly Cmd?: readonly string[] | null;
  readonly Volumes?: Readonly<Record<string, object>>;
  readonly WorkingDir?: string;
  readonly Labels?: Readonly<Record<string, string>> | null;
  readonly StopSignal?: string;
  readonly ArgsEscaped?: boolean;
}

/** config.md "history" entries. */
export interface HistoryEntry {
  readonly created?: string;
  readonly author?: string;
  readonly created_by?: string;
  readonly comment?: string;
  readonly empty_layer?: boolean;
}

/** config.md "Properties". */
export interface ImageConfig {
  readonly created?: string;
  readonly author?: string;
  readonly architecture: string;
  readonly os: string;
  readonly 'os.version'?: string;
  readonly 'os.features'?: readonly string[];
  readonly variant?: string;
  readonly config?: ImageExecConfig;
  readonly rootfs: { readonly type: 'layers'; readonly diff_ids: readonly Digest[] };
  readonly history?: readonly HistoryEntry[];
}

/** image-layout.md "oci-layout file". */
export interface ImageLayout {
  readonly imageLayoutVersion: string;
}
