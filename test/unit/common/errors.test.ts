import { describe, expect, it } from 'vitest';
import {
  BerthError, deserializeError, ExitCode, InterruptedError, InvalidContentError, LimitExceededError, serializeError, UsageError,
} from '../../../common/errors.js';

describe('errors', () => {
  it('carry a stable code, an exit code, a hint and a cause', () => {
    const cause = new Error('inner');
    const err = new InvalidContentError('Cannot read x: bad', { hint: 'do y', cause });
    expect(err).toBeInstanceOf(BerthError);
    expect(err.code).toBe('INVALID_CONTENT');
    expect(err.exitCode).toBe(ExitCode.failed);
    expect(err.hint).toBe('do y');
    expect(err.cause).toBe(cause);
    expect(err.name).toBe('InvalidContentError');
    expect(new UsageError('x').exitCode).toBe(2);
    expect(new InterruptedError('x').exitCode).toBe(130);
  });

  it('cross a thread boundary as plain data and come back as the same class', () => {
    const original = new LimitExceededError('Cannot unpack layer: too many entries', { hint: 'raise limits.maxEntries' });
    const data = serializeError(original);
    expect(JSON.parse(JSON.stringify(data))).toEqual(data);
    const back = deserializeError(data);
    expect(back).toBeInstanceOf(LimitExceededError);
    expect(back.message).toBe(original.message);
    expect((back as LimitExceededError).hint).toBe('raise limits.maxEntries');
  });

  it('keep the code of system and zlib errors', () => {
    const zlib = Object.assign(new Error('incorrect header check'), { code: 'Z_DATA_ERROR' });
    const back = deserializeError(serializeError(zlib));
    expect(back).not.toBeInstanceOf(BerthError);
    expect((back as NodeJS.ErrnoException).code).toBe('Z_DATA_ERROR');
    expect(back.message).toBe('incorrect header check');
  });
});
