import { describe, expect, it } from 'vitest';
import { BerthError, InvalidArgumentError, NotFoundError } from '../../../common/errors.js';
import { parseUserSpec, resolveUser } from '../../../runtime/spec.js';

// Shaped like alpine's files, with a comment, a blank line and a short line thrown in.
const passwd = [
  'root:x:0:0:root:/root:/bin/sh',
  '# a comment',
  '',
  'daemon:x:2:2:daemon:/sbin:/sbin/nologin',
  'app:x:1000:1000:App:/home/app:/bin/sh',
  'nobody:x:65534:65534:nobody:/:/sbin/nologin',
  'short:x:1001',
].join('\n');
const group = [
  'root:x:0:root',
  'bin:x:1:root,bin,daemon',
  'daemon:x:2:root,bin,daemon',
  'wheel:x:10:root,app',
  'app:x:1000:',
  'staff:x:50:',
  'nogroup:x:65533:',
].join('\n');

function errorOf(fn: () => unknown): BerthError {
  try {
    fn();
  } catch (err) {
    if (err instanceof BerthError) return err;
    throw err;
  }
  throw new Error('expected an error');
}

describe('parseUserSpec', () => {
  it.each([
    ['app', { user: 'app' }],
    ['1000', { user: '1000' }],
    ['app:staff', { user: 'app', group: 'staff' }],
    ['1000:50', { user: '1000', group: '50' }],
    ['app:', { user: 'app' }],
    ['', { user: '' }],
    [':staff', { user: '', group: 'staff' }],
  ])('parseUserSpec(%j) is %j', (spec, expected) => {
    expect(parseUserSpec(spec)).toEqual(expected);
  });

  it('rejects more than one colon', () => {
    const err = errorOf(() => parseUserSpec('a:b:c'));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toBe('Invalid user "a:b:c": it has more than one ":"');
    expect(err.hint).toBe('Use name, uid, name:group or uid:gid');
  });
});

describe('resolveUser', () => {
  it('resolves a name to its uid, its primary gid and the groups that list it', () => {
    expect(resolveUser('app', passwd, group)).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000, 10] });
  });

  it('resolves the empty user as root, with root\'s supplementary groups', () => {
    expect(resolveUser('', passwd, group)).toEqual({ uid: 0, gid: 0, additionalGids: [0, 0, 1, 2, 10] });
    expect(resolveUser('root', passwd, group)).toEqual(resolveUser('', passwd, group));
  });

  it('resolves a uid that passwd lists like its name', () => {
    expect(resolveUser('65534', passwd, group)).toEqual({ uid: 65534, gid: 65534, additionalGids: [65534] });
    expect(resolveUser('1000', passwd, group)).toEqual(resolveUser('app', passwd, group));
  });

  it('accepts a uid that passwd lacks, with gid 0', () => {
    expect(resolveUser('4242', passwd, group)).toEqual({ uid: 4242, gid: 0, additionalGids: [0] });
  });

  it('takes an explicit group instead of the primary gid, without supplementary groups', () => {
    expect(resolveUser('app:staff', passwd, group)).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(resolveUser('app:50', passwd, group)).toEqual({ uid: 1000, gid: 50, additionalGids: [50] });
    expect(resolveUser('4242:4343', passwd, group)).toEqual({ uid: 4242, gid: 4343, additionalGids: [4343] });
    expect(resolveUser('4242:nogroup', passwd, group)).toEqual({ uid: 4242, gid: 65533, additionalGids: [65533] });
  });

  it('counts fields that are missing as 0, as runc does', () => {
    expect(resolveUser('short', passwd, group)).toEqual({ uid: 1001, gid: 0, additionalGids: [0] });
  });

  it('works without /etc/passwd and /etc/group for numeric ids', () => {
    expect(resolveUser('1000:1000', undefined, undefined)).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000] });
    expect(resolveUser('', undefined, undefined)).toEqual({ uid: 0, gid: 0, additionalGids: [0] });
    expect(resolveUser('app', passwd, undefined)).toEqual({ uid: 1000, gid: 1000, additionalGids: [1000] });
  });

  it('says which user it cannot find, like docker', () => {
    const err = errorOf(() => resolveUser('nobody2', passwd, group));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe('Unable to find user "nobody2": no matching entries in passwd file');
    expect(err.hint).toBe('Check the name, or give a numeric uid, e.g. -u 1000');
  });

  it('says when the image has no /etc/passwd to look a name up in', () => {
    const err = errorOf(() => resolveUser('app', undefined, group));
    expect(err.message).toBe('Unable to find user "app": no matching entries in passwd file');
    expect(err.hint).toBe('The image has no /etc/passwd: give a numeric uid, e.g. -u 1000');
  });

  it('says which group it cannot find', () => {
    const err = errorOf(() => resolveUser('app:wheels', passwd, group));
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err.message).toBe('Unable to find group "wheels": no matching entries in group file');
    expect(err.hint).toBe('Check the name, or give a numeric gid, e.g. -u 1000:1000');
  });

  it('accepts ids up to 2^31-1 and rejects larger or negative ones', () => {
    expect(resolveUser('2147483647:2147483647', undefined, undefined).uid).toBe(2147483647);
    for (const spec of ['2147483648', '1000:2147483648', '4294967295', '-1']) {
      const err = errorOf(() => resolveUser(spec, passwd, group));
      expect(err).toBeInstanceOf(InvalidArgumentError);
      expect(err.message).toBe(`Invalid user "${spec}": uids and gids must be from 0 to 2147483647`);
    }
  });

  it('rejects an id from the image\'s files that is out of range', () => {
    const err = errorOf(() => resolveUser('huge', 'huge:x:3000000000:0::/:/bin/sh', undefined));
    expect(err).toBeInstanceOf(InvalidArgumentError);
    expect(err.message).toBe('Invalid user "huge": the image gives it id 3000000000, outside 0 to 2147483647');
  });
});
