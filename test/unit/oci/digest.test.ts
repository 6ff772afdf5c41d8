import { describe, expect, it } from 'vitest';
import { digestProblem, isDigest } from '../../../oci/index.js';
import { parseDigest, sha256Of } from '../../../common/digests.js';
import { InvalidArgumentError } from '../../../common/errors.js';

const hex = 'a'.repeat(64);

describe('digests', () => {
  it.each([
    [`sha256:${hex}`, undefined],
    [`sha512:${'b'.repeat(128)}`, undefined],
    ['sha256:../x', 'its encoded part is not lower-case hex'],
    [`sha256:${'a'.repeat(63)}`, 'its encoded part has 63 characters, sha256 needs 64'],
    [`sha256:${'A'.repeat(64)}`, 'its encoded part is not lower-case hex'],
    [`md5:${hex}`, 'the algorithm "md5" is not supported (use sha256 or sha512)'],
    [hex, 'it has no "algorithm:" prefix'],
    ['', 'it has no "algorithm:" prefix'],
  ])('digestProblem(%j) is %j', (value, problem) => {
    expect(digestProblem(value)).toBe(problem);
    expect(isDigest(value)).toBe(problem === undefined);
  });

  it('parseDigest throws a clear InvalidArgumentError', () => {
    expect(() => parseDigest('sha256:../x', 'layer digest')).toThrowError(InvalidArgumentError);
    expect(() => parseDigest('sha256:../x', 'layer digest')).toThrowError('Invalid layer digest "sha256:../x": its encoded part is not lower-case hex');
  });

  it('sha256Of hashes bytes', () => {
    expect(sha256Of('')).toBe('sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855');
  });
});
