/**
 * The Backend interface: one way of running a container's processes (DESIGN.md
 * "Backends"). berth's own helper, another OCI runtime (runc, crun) and, next, a microVM
 * implement it; the engine (runtime/) drives every one of them through it and nothing else,
 * and one contract suite (test/contracts/backend-suite.ts, run by berth-backend.test.ts and runc-backend.test.ts) runs the same lifecycle against
 * each. It is containerd's runtime v2 task API (core/runtime/v2/task.go) cut down to what
 * berth uses.
 *
 * Rules:
 * - A backend keeps no state of its own between calls: every call gets a {@link TaskRef}
 *   (what the engine recorded at create) and the engine owns the record and the state
 *   machine (runtime/state.ts). So any berth process, and the API server, can drive a
 *   container that another one created.
 * - Its input is plain data: the OCI spec (config-linux.md, config.md), the rootfs as
 *   mounts from the snapshotter, the cgroup (its OCI cgroupsPath and berth's parent), the
 *   network namespace as a path in the spec, the stdio as files.
 * - Lifecycle: {@link Backend.create} leaves the first process waiting to be started
 *   (runtime.md "create": the user's program does not run yet); {@link Backend.start} lets
 *   it exec; the process then runs until it exits or is killed; {@link Backend.wait}
 *   resolves with its exit once the monitor recorded it; {@link Backend.delete} releases
 *   everything the backend made for the task and is idempotent: it may be called after a
 *   crash at any point of create, for a task that never existed, and twice.
 * - Failures are BerthErrors. The engine decides which failures of a cleanup stop an
 *   operation and reports the others as warnings; none is dropped.
 */
import type { LinuxResources, RuntimeSpec } from '../oci/index.js';

/** An overlayfs mount: `lowers` topmost first, as lowerdir= takes them (overlayfs(5)). */
export interface OverlayMount {
  readonly type: 'overlay';
  readonly lowers: readonly string[];
  /** Absent for a read-only view. */
  readonly upper?: string | undefined;
  readonly work?: string | undefined;
}

/** How the task's first process gets its stdio, kept by the monitor. */
export interface TaskStdio {
  /** The json-file log (docker's log driver format) the monitor writes the output to. */
  readonly logPath: string;
  readonly logMaxSize: number;
  readonly logMaxFiles: number;
  /** A pty (docker -t). */
  readonly tty: boolean;
  /** Keep stdin open for attach (docker -i). */
  readonly stdin: boolean;
}

/** Everything a backend needs to create a task. */
export interface CreateTaskRequest {
  /** The container id (64 hex digits). */
  readonly id: string;
  /** The container's directory: the bundle (config.json), the monitor's cwd, exit.json. */
  readonly dir: string;
  /** The OCI runtime spec, as written to `dir`/config.json; root.path is `rootfs`. */
  readonly spec: RuntimeSpec;
  /** The directory the rootfs is mounted on (spec.root.path, absolute). */
  readonly rootfsPath: string;
  /** The rootfs, from the snapshotter: mounted on `rootfsPath` by the backend. */
  readonly rootfs: readonly OverlayMount[];
  /** berth's cgroup parent of the container (--cgroup-parent), when not the default. */
  readonly cgroupParent?: string | undefined;
  readonly stdio: TaskStdio;
  /**
   * The task is made again for a container that ran before (start of an exited one): what
   * its last run left (its cgroup, with its limits) is used again.
   */
  readonly again: boolean;
  /** --init: a reaping, signal-forwarding PID 1 above the command. */
  readonly init: boolean;
  /** Host ports the monitor holds bound while the container lives ("tcp:0.0.0.0:8080"). */
  readonly holdPorts: readonly string[];
  /** What the monitor runs when the task has exited (berth's cleanup), or nothing. */
  readonly exitCommand?: readonly string[] | undefined;
}

/** What the engine records of a task, and gives back on every later call. */
export interface TaskRef {
  readonly id: string;
  readonly dir: string;
  /** The first process's pid in the host's pid namespace (0 when there is none). */
  readonly pid: number;
  /** Its start time (/proc/<pid>/stat field 22), so that a reused pid is not taken for it. */
  readonly pidStart: string;
  readonly monitorPid: number;
  readonly cgroupParent?: string | undefined;
}

/** A created task. */
export interface CreatedTask {
  readonly pid: number;
  readonly monitorPid: number;
  /** Limits this host can only ignore, in docker's words. */
  readonly warnings: readonly string[];
}

/** How a task ended, as its monitor recorded it (exit.json). */
export interface TaskExit {
  /** The status docker shows: the exit code, or 128+N for signal N. */
  readonly exitCode: number;
  readonly signal: number;
  readonly finishedAt: string;
  readonly oomKilled: boolean;
}

/** The process an exec runs: a process of config.md, complete (user, env, cwd resolved). */
export type ExecProcessSpec = NonNullable<RuntimeSpec['process']>;

/** How an exec'd process's stdio is connected. */
export interface ExecStdio {
  /** Give it this process's stdin (-i); otherwise /dev/null. */
  readonly stdin: boolean;
  /** Run it in the background (-d): no stdio, do not wait. */
  readonly detach: boolean;
}

/** An exec'd process: its host pid and its exit status (0 at once when detached). */
export interface ExecTask {
  readonly pid: number;
  readonly status: Promise<number>;
}

/** Resource usage of a task at one moment. */
export interface TaskStats {
  /** CPU time used, nanoseconds (v1 cpuacct.usage, v2 cpu.stat usage_usec × 1000). */
  readonly cpuNanos: number;
  /**
   * Memory in use, bytes, without the inactive page cache, as docker's CLI shows it (cli
   * stats_helpers.go calculateMemUsageUnixNoCache: the usage less v1 total_inactive_file or
   * else inactive_file, each only when below the usage).
   */
  readonly memoryUsage: number;
  /** The memory limit, bytes; undefined when unlimited. */
  readonly memoryLimit: number | undefined;
  /** Bytes read from and written to block devices. */
  readonly blockRead: number;
  readonly blockWrite: number;
  /** Processes and threads of the task (in its cgroup). */
  readonly pids: number;
  /** The pids limit; undefined when unlimited. */
  readonly pidsLimit: number | undefined;
  /** Bytes received and sent through the task's network interfaces but lo. */
  readonly netRx: number;
  readonly netTx: number;
  /** When it was read, ms since the epoch. */
  readonly read: number;
}

/** One way of running containers; see the module comment for the rules. */
export interface Backend {
  /** What the container's record names: "berth", or the OCI runtime as given (runc, crun, a path). */
  readonly name: string;
  /** Makes the task: its first process exists and waits for {@link start}. */
  create(request: CreateTaskRequest): Promise<CreatedTask>;
  /** Lets a created task's first process exec the user's program. */
  start(task: TaskRef): Promise<void>;
  /** Sends `signal` to the first process; SIGKILL goes to every process of the task. */
  kill(task: TaskRef, signal: number): Promise<void>;
  /** Runs another process in the running task; resolves once it runs. */
  exec(task: TaskRef, process: ExecProcessSpec, options: { readonly namespaces: readonly string[]; readonly stdio: ExecStdio }): Promise<ExecTask>;
  /** Freezes every process of the task. */
  pause(task: TaskRef): Promise<void>;
  resume(task: TaskRef): Promise<void>;
  /** Writes new limits to the running task; returns docker's warnings. */
  update(task: TaskRef, resources: LinuxResources): Promise<string[]>;
  stats(task: TaskRef): Promise<TaskStats>;
  /** Resolves once the task has exited and its monitor recorded how. */
  wait(task: TaskRef, options?: { readonly signal?: AbortSignal | undefined }): Promise<TaskExit>;
  /**
   * Releases what the backend made for the task (its cgroup, a rootfs mounted on the host,
   * another runtime's state), killing what is left in it. Idempotent: what is gone already
   * is fine. Throws when something could not be released; calling it again retries.
   */
  delete(task: TaskRef): Promise<void>;
}
