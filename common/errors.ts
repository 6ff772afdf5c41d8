/**
 * The errors berth throws. Every error that leaves a berth module is a subclass of
 * {@link BerthError}: it has a stable `code` (public API, never renamed), the process exit
 * code the CLI uses for it, a message that says what was being done and why, an optional
 * hint that says what to do, and the wrapped `cause`.
 *
 * Exit codes (public API, see README "Exit codes"; never renumber):
 *  - 0 success, 2 usage error, 125 berth itself failed,
 *  - 126 the container command cannot be invoked, 127 it is not found,
 *  - 130 interrupted (SIGINT), 141 standard output or error closed by its reader (as a
 *    process killed by SIGPIPE), otherwise the container's own status.
 */

/** Exit codes shared by every front end. */
export const ExitCode = {
  ok: 0,
  usage: 2,
  failed: 125,
  cannotInvoke: 126,
  notFound: 127,
  interrupted: 130,
  /** 128 + SIGPIPE: the reader of stdout or stderr went away (`berth … | head`). */
  brokenPipe: 141,
} as const;

/** Options accepted by every {@link BerthError} constructor. */
export interface BerthErrorOptions {
  /** What the user can do about it, one sentence. */
  readonly hint?: string | undefined;
  /** The error this one wraps. */
  readonly cause?: unknown;
}

/** Base class of every error berth throws. */
export abstract class BerthError extends Error {
  /** Stable machine-readable kind, e.g. `NOT_FOUND`. */
  abstract readonly code: string;
  /** Process exit code the CLI maps this error to. */
  readonly exitCode: number = ExitCode.failed;
  readonly hint: string | undefined;

  constructor(message: string, options: BerthErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options.hint;
  }
}

/** Something named by the user or referenced by a document does not exist. */
export class NotFoundError extends BerthError {
  readonly code = 'NOT_FOUND';
}

/** Something with that name or identity already exists. */
export class AlreadyExistsError extends BerthError {
  readonly code = 'ALREADY_EXISTS';
}

/** The user gave a value berth cannot accept (flags, references, digests, limits). */
export class InvalidArgumentError extends BerthError {
  readonly code = 'INVALID_ARGUMENT';
}

/** A command line that does not parse; exits 2 like other CLIs. */
export class UsageError extends BerthError {
  readonly code = 'USAGE';
  override readonly exitCode: number = ExitCode.usage;
}

/** The operation is valid but the current state forbids it (image in use, ...). */
export class FailedPreconditionError extends BerthError {
  readonly code = 'FAILED_PRECONDITION';
}

/** The operation needs root (or a capability berth lacks). */
export class RequiresRootError extends BerthError {
  readonly code = 'REQUIRES_ROOT';
}

/** The host lacks a kernel or system feature berth needs. */
export class UnsupportedError extends BerthError {
  readonly code = 'UNSUPPORTED';
}

/** Content that failed verification or parsing: wrong digest, size, malformed JSON, hostile tar. */
export class InvalidContentError extends BerthError {
  readonly code = 'INVALID_CONTENT';
}

/** A resource limit configured in berth was exceeded (tar entry count, PAX size, ...). */
export class LimitExceededError extends BerthError {
  readonly code = 'LIMIT_EXCEEDED';
}

/** Details of a registry failure. */
export interface RegistryErrorOptions extends BerthErrorOptions {
  /** HTTP status, when the registry answered. */
  readonly status?: number | undefined;
  /** Distribution-spec error codes from the response body (`MANIFEST_UNKNOWN`, ...). */
  readonly registryCodes?: readonly string[] | undefined;
}

/** A registry refused, failed or could not be reached. */
export class RegistryError extends BerthError {
  readonly code = 'REGISTRY';
  readonly status: number | undefined;
  readonly registryCodes: readonly string[];

  constructor(message: string, options: RegistryErrorOptions = {}) {
    super(message, options);
    this.status = options.status;
    this.registryCodes = options.registryCodes ?? [];
  }
}

/** Details of a native helper failure. */
export interface HelperErrorOptions extends BerthErrorOptions {
  readonly stage?: string | undefined;
  readonly errno?: number | undefined;
}

/** The container's command does not exist (exit 127) or cannot be run (exit 126), as docker reports it. */
export class ContainerCommandError extends BerthError {
  readonly code = 'CONTAINER_COMMAND';
  override readonly exitCode: number;

  constructor(message: string, notFound: boolean, options: BerthErrorOptions = {}) {
    super(message, options);
    this.exitCode = notFound ? ExitCode.notFound : ExitCode.cannotInvoke;
  }
}

/** The native helper failed at a step of its plan. */
export class HelperError extends BerthError {
  readonly code = 'HELPER';
  readonly stage: string | undefined;
  readonly errno: number | undefined;

  constructor(message: string, options: HelperErrorOptions = {}) {
    super(message, options);
    this.stage = options.stage;
    this.errno = options.errno;
  }
}

/** The host refused a network change: a netlink request (berth-net) or nftables rules. */
export class NetworkError extends BerthError {
  readonly code = 'NETWORK';
}

/** The operation was interrupted (Ctrl-C, AbortSignal). */
export class InterruptedError extends BerthError {
  readonly code = 'INTERRUPTED';
  override readonly exitCode: number = ExitCode.interrupted;
}

/** True when `err` is a Node.js system error with the given errno code (`ENOENT`, ...). */
export function isErrnoError(err: unknown, code?: string): err is NodeJS.ErrnoException {
  if (!(err instanceof Error) || !('code' in err) || typeof err.code !== 'string') return false;
  return code === undefined || err.code === code;
}

/** Throws an {@link InterruptedError} when `signal` is aborted. */
export function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted === true) throw new InterruptedError(`${what} was interrupted`, { cause: signal.reason });
}

/** An error as plain data, to cross a thread or process boundary. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly code?: string | undefined;
  readonly hint?: string | undefined;
}

/** The plain-data form of `err` (BerthError code and hint, or a system error's code). */
export function serializeError(err: unknown): SerializedError {
  if (err instanceof BerthError) return { name: err.name, message: err.message, code: err.code, hint: err.hint };
  if (err instanceof Error) {
    const code = 'code' in err && typeof err.code === 'string' ? err.code : undefined;
    return { name: err.name, message: err.message, code };
  }
  return { name: 'Error', message: String(err) };
}

const berthErrorsByCode: Readonly<Record<string, new (message: string, options?: BerthErrorOptions) => BerthError>> = {
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  INVALID_ARGUMENT: InvalidArgumentError,
  USAGE: UsageError,
  FAILED_PRECONDITION: FailedPreconditionError,
  REQUIRES_ROOT: RequiresRootError,
  UNSUPPORTED: UnsupportedError,
  INVALID_CONTENT: InvalidContentError,
  LIMIT_EXCEEDED: LimitExceededError,
  REGISTRY: RegistryError,
  HELPER: HelperError,
  INTERRUPTED: InterruptedError,
};

/** Rebuilds an error from {@link serializeError}: the same BerthError class, or an Error with `code`. */
export function deserializeError(data: SerializedError): Error {
  const Class = data.code === undefined ? undefined : berthErrorsByCode[data.code];
  if (Class !== undefined) return new Class(data.message, { hint: data.hint });
  const err = new Error(data.message);
  err.name = data.name;
  if (data.code !== undefined) Object.assign(err, { code: data.code });
  return err;
}
