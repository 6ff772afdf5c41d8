/**
 * What a container was created with, as berth records it: the parts of docker's
 * container Config and HostConfig that berth supports, with docker's field names where
 * `inspect` shows them.
 */
import type { NetworkConfig } from './networking.js';
import type { ResourceConfig } from './resources.js';

/** A mount as the user asked for it (-v, --mount, --tmpfs), resolved to absolute paths. */
export type MountRequest =
  | { readonly type: 'bind'; readonly source: string; readonly destination: string; readonly readOnly: boolean; readonly propagation?: string | undefined }
  | { readonly type: 'volume'; readonly name: string; readonly destination: string; readonly readOnly: boolean }
  | { readonly type: 'tmpfs'; readonly destination: string; readonly options: readonly string[] };

export interface Ulimit {
  readonly name: string;
  readonly soft: number;
  readonly hard: number;
}

export interface ContainerConfig {
  /** Config. */
  readonly hostname: string;
  readonly domainname: string;
  readonly user: string;
  readonly env: readonly string[];
  readonly cmd: readonly string[];
  readonly entrypoint: readonly string[] | null;
  readonly workingDir: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly tty: boolean;
  readonly openStdin: boolean;
  readonly stopSignal: string;
  readonly stopTimeout: number | undefined;
  readonly image: string;
  /** The process berth runs: Path and Args in docker's inspect. */
  readonly path: string;
  readonly args: readonly string[];
  /** HostConfig. */
  readonly autoRemove: boolean;
  readonly readonlyRootfs: boolean;
  readonly privileged: boolean;
  readonly capAdd: readonly string[];
  readonly capDrop: readonly string[];
  readonly securityOpt: readonly string[];
  readonly init: boolean;
  readonly ulimits: readonly Ulimit[];
  /** --sysctl: namespaced kernel parameters (absent in containers made before berth had them). */
  readonly sysctls?: Readonly<Record<string, string>> | undefined;
  readonly mounts: readonly MountRequest[];
  /** none, host, container:NAME, or the name of the network it was created on. */
  readonly networkMode: string;
  /** Ports, DNS, hosts, address requests; absent in containers made before berth had networks. */
  readonly net?: NetworkConfig | undefined;
  readonly logMaxSize: number;
  readonly logMaxFiles: number;
  /** OCI runtime: "berth" (the native helper), or crun/runc/a path. */
  readonly runtime: string;
  /** --cgroup-parent, when given (else berth's configured parent, /berth by default). */
  readonly cgroupParent?: string | undefined;
  /** Resource limits; absent in containers made before berth had them (then none). */
  readonly resources?: ResourceConfig | undefined;
}
