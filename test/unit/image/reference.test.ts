import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../common/errors.js';
import {
  familiarName, familiarString, manifestReference, parseReference, referenceString, registryHost, repositoryName,
} from '../../../image/reference.js';

const hex = 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855';
const digest = `sha256:${hex}`;

/** [input, canonical referenceString, familiarString] */
const valid: readonly (readonly [string, string, string])[] = [
  ['busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['busybox:1.36', 'docker.io/library/busybox:1.36', 'busybox:1.36'],
  ['library/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['docker.io/library/busybox:musl', 'docker.io/library/busybox:musl', 'busybox:musl'],
  ['index.docker.io/busybox', 'docker.io/library/busybox:latest', 'busybox:latest'],
  ['index.docker.io/user/app:v1', 'docker.io/user/app:v1', 'user/app:v1'],
  ['user/app', 'docker.io/user/app:latest', 'user/app:latest'],
  ['user/app/sub', 'docker.io/user/app/sub:latest', 'user/app/sub:latest'],
  ['docker.io/library/a/b', 'docker.io/library/a/b:latest', 'library/a/b:latest'],
  ['localhost/x', 'localhost/x:latest', 'localhost/x:latest'],
  ['localhost:5000/x', 'localhost:5000/x:latest', 'localhost:5000/x:latest'],
  ['localhost:5000', 'docker.io/library/localhost:5000', 'localhost:5000'],
  ['127.0.0.1:5000/a/b:tag', '127.0.0.1:5000/a/b:tag', '127.0.0.1:5000/a/b:tag'],
  ['registry.example.com/team/app:1.0', 'registry.example.com/team/app:1.0', 'registry.example.com/team/app:1.0'],
  ['quay.io/podman/hello', 'quay.io/podman/hello:latest', 'quay.io/podman/hello:latest'],
  ['[::1]:5000/app', '[::1]:5000/app:latest', '[::1]:5000/app:latest'],
  ['Registry.Example.com/app', 'Registry.Example.com/app:latest', 'Registry.Example.com/app:latest'],
  ['Foo/bar', 'Foo/bar:latest', 'Foo/bar:latest'],
  [`busybox@${digest}`, `docker.io/library/busybox@${digest}`, `busybox@${digest}`],
  [`busybox:1.36@${digest}`, `docker.io/library/busybox:1.36@${digest}`, `busybox:1.36@${digest}`],
  [`127.0.0.1:5000/x@${digest}`, `127.0.0.1:5000/x@${digest}`, `127.0.0.1:5000/x@${digest}`],
  ['a-b_c__d/f---g.h:T_a.g-1', 'docker.io/a-b_c__d/f---g.h:T_a.g-1', 'a-b_c__d/f---g.h:T_a.g-1'],
  ['busybox:_tag', 'docker.io/library/busybox:_tag', 'busybox:_tag'],
  [`busybox:${'t'.repeat(128)}`, `docker.io/library/busybox:${'t'.repeat(128)}`, `busybox:${'t'.repeat(128)}`],
  [`${hex}:tag`, `docker.io/library/${hex}:tag`, `${hex}:tag`],
];

/** [input, a fragment of the message] */
const invalid: readonly (readonly [string, string])[] = [
  ['', 'it is empty'],
  ['Busybox', 'must be lower case'],
  ['user/App', 'must be lower case'],
  ['localhost:5000/App:tag', 'must be lower case'],
  ['busybox:', 'the tag "" is invalid'],
  ['busybox:-tag', 'the tag "-tag" is invalid'],
  ['busybox:.tag', 'the tag ".tag" is invalid'],
  [`busybox:${'t'.repeat(129)}`, 'is invalid'],
  ['busybox:ta/g', 'not a valid'],
  ['busybox@sha256:../x', 'not lower-case hex'],
  [`busybox@sha256:${hex.slice(1)}`, 'has 63 characters'],
  [`busybox@sha256:${hex.toUpperCase()}`, 'not lower-case hex'],
  [`busybox@md5:${hex}`, 'not supported'],
  ['busybox@', 'no "algorithm:" prefix'],
  [`busybox@${digest}@${digest}`, 'is invalid'],
  [':tag', 'the repository name is empty'],
  ['/busybox', 'not a valid repository name'],
  ['busybox/', 'not a valid repository name'],
  ['a//b', 'not a valid repository name'],
  ['-busybox', 'not a valid repository name'],
  ['busy box', 'not a valid repository name'],
  ['busybox_-x', 'not a valid repository name'],
  ['a___b', 'not a valid repository name'],
  ['-bad.example.com/app', 'not a valid registry domain'],
  ['example.com:port/app', 'not a valid registry domain'],
  ['a.b_c/app', 'not a valid registry domain'],
  [hex, 'image ID'],
  [`example.com/${'a'.repeat(250)}`, 'longer than 255'],
];

describe('parseReference', () => {
  it.each(valid)('normalises %j', (input, canonical, familiar) => {
    const ref = parseReference(input);
    expect(referenceString(ref)).toBe(canonical);
    expect(familiarString(ref)).toBe(familiar);
  });

  it.each(invalid)('rejects %j', (input, fragment) => {
    let caught: unknown;
    try {
      parseReference(input);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(InvalidArgumentError);
    const error = caught as InvalidArgumentError;
    expect(error.message).toContain(`Invalid image reference "${input}"`);
    expect(error.message).toContain(fragment);
    expect(error.hint).toBeTruthy();
  });

  it('splits an official image into domain, path and default tag', () => {
    expect(parseReference('busybox')).toEqual({ domain: 'docker.io', path: 'library/busybox', tag: 'latest' });
  });

  it('adds no tag when only a digest is given, and fetches by digest when both are', () => {
    const byDigest = parseReference(`busybox@${digest}`);
    expect(byDigest).toEqual({ domain: 'docker.io', path: 'library/busybox', digest });
    expect(manifestReference(byDigest)).toBe(digest);
    const both = parseReference(`busybox:1.36@${digest}`);
    expect(both.tag).toBe('1.36');
    expect(manifestReference(both)).toBe(digest);
    expect(manifestReference(parseReference('busybox:1.36'))).toBe('1.36');
  });

  it('prints names as docker does', () => {
    expect(familiarName(parseReference('docker.io/library/busybox'))).toBe('busybox');
    expect(familiarName(parseReference('user/app'))).toBe('user/app');
    expect(familiarName(parseReference('127.0.0.1:5000/x'))).toBe('127.0.0.1:5000/x');
    expect(repositoryName(parseReference('busybox'))).toBe('docker.io/library/busybox');
  });

  it('maps Docker Hub to its API host', () => {
    expect(registryHost('docker.io')).toBe('registry-1.docker.io');
    expect(registryHost('index.docker.io')).toBe('registry-1.docker.io');
    expect(registryHost('quay.io')).toBe('quay.io');
    expect(registryHost('127.0.0.1:5000')).toBe('127.0.0.1:5000');
  });
});
