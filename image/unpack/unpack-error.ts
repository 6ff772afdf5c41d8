/**
 * Maps whatever an unpack ran into onto berth's error kinds (STYLE.md §3): limits and
 * berth errors pass through; an abort becomes InterruptedError; host trouble (disk full,
 * read-only, permissions) says so; everything else the tar caused is InvalidContentError.
 */
import {
  BerthError,
  FailedPreconditionError,
  InterruptedError,
  InvalidContentError,
  RequiresRootError,
  isErrnoError,
} from '../../common/errors.js';
import { printable } from './safe-path.js';

const hostErrors = new Set(['ENOSPC', 'EDQUOT', 'EROFS', 'EIO', 'EMFILE', 'ENFILE', 'ENOMEM']);
const permissionErrors = new Set(['EPERM', 'EACCES']);

/** Where an error happened: the layer directory and, when known, the tar entry. */
export interface UnpackErrorContext {
  readonly dir: string;
  readonly entry?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** The BerthError to throw for `err`; see the module comment. */
export function toUnpackError(err: unknown, context: UnpackErrorContext): BerthError {
  if (context.signal?.aborted === true) {
    return err instanceof InterruptedError ? err : new InterruptedError('Unpacking the layer was interrupted', { cause: context.signal.reason });
  }
  if (err instanceof BerthError) return err;
  const where = context.entry === undefined ? '' : `entry "${printable(context.entry)}": `;
  const reason = err instanceof Error ? err.message : String(err);
  if (isErrnoError(err) && hostErrors.has(err.code ?? '')) {
    return new FailedPreconditionError(`Cannot unpack layer into "${context.dir}": ${where}${reason}`, {
      cause: err,
      hint: `Check free space and the filesystem of "${context.dir}"`,
    });
  }
  if (isErrnoError(err) && permissionErrors.has(err.code ?? '')) {
    return new RequiresRootError(`Cannot unpack layer into "${context.dir}": ${where}${reason}`, {
      cause: err,
      hint: 'Run berth as root to unpack layers with their owners, device nodes and trusted.* attributes',
    });
  }
  return new InvalidContentError(`Cannot unpack layer: ${where}${reason}`, { cause: err });
}
