import { describe, expect, it } from 'vitest';
import { InvalidArgumentError } from '../../../../common/errors.js';
import { RegistryEndpoints } from '../../../../image/registry/index.js';
import { parseChallenges } from '../../../../image/registry/challenge.js';
import { nextLink } from '../../../../image/registry/tags.js';

describe('RegistryEndpoints', () => {
  const endpoints = new RegistryEndpoints({
    insecureRegistries: ['registry.lan:5000', 'plain.example', '10.1.0.0/16', 'fd00::/8', 'http://with-scheme.example'],
  });

  it.each([
    ['docker.io', 'https://registry-1.docker.io'],
    ['quay.io', 'https://quay.io'],
    ['registry.lan', 'https://registry.lan'],
    ['registry.lan:5000', 'http://registry.lan:5000'],
    ['plain.example', 'http://plain.example'],
    ['with-scheme.example', 'http://with-scheme.example'],
    ['localhost:5000', 'http://localhost:5000'],
    ['127.0.0.1:5000', 'http://127.0.0.1:5000'],
    ['127.8.9.10', 'http://127.8.9.10'],
    ['[::1]:5000', 'http://[::1]:5000'],
    ['10.1.2.3:8443', 'http://10.1.2.3:8443'],
    ['10.2.0.1', 'https://10.2.0.1'],
    ['[fd12::1]:5000', 'http://[fd12::1]:5000'],
    ['[2001:db8::1]', 'https://[2001:db8::1]'],
  ])('serves %s at %s', (domain, base) => {
    expect(endpoints.baseUrl(domain).origin).toBe(base);
  });

  it('lets a base URL be set per domain', () => {
    const custom = new RegistryEndpoints({ endpoints: { 'docker.io': 'http://127.0.0.1:9/ignored/path' } });
    expect(custom.baseUrl('docker.io').href).toBe('http://127.0.0.1:9/');
    expect(custom.baseUrl('quay.io').href).toBe('https://quay.io/');
  });

  it('allows credentials over HTTPS and to insecure hosts only', () => {
    expect(endpoints.canSendCredentials(new URL('https://auth.example/token'))).toBe(true);
    expect(endpoints.canSendCredentials(new URL('http://auth.example/token'))).toBe(false);
    expect(endpoints.canSendCredentials(new URL('http://127.0.0.1:8080/token'))).toBe(true);
    expect(endpoints.canSendCredentials(new URL('http://plain.example/token'))).toBe(true);
  });

  it('rejects malformed settings', () => {
    expect(() => new RegistryEndpoints({ insecureRegistries: ['10.0.0.0/33'] })).toThrow(InvalidArgumentError);
    expect(() => new RegistryEndpoints({ insecureRegistries: ['host/8'] })).toThrow(InvalidArgumentError);
    expect(() => new RegistryEndpoints({ endpoints: { x: 'ftp://x' } })).toThrow(InvalidArgumentError);
  });
});

describe('parseChallenges', () => {
  it('parses bearer and basic challenges with quoted and bare parameters', () => {
    const challenges = parseChallenges([
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push"',
      'Basic realm="a \\"quoted\\" realm", charset=UTF-8',
    ]);
    expect(challenges.map((c) => [c.scheme, Object.fromEntries(c.params)])).toEqual([
      ['bearer', { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/busybox:pull,push' }],
      ['basic', { realm: 'a "quoted" realm', charset: 'UTF-8' }],
    ]);
  });

  it('parses several challenges in one header', () => {
    const challenges = parseChallenges('Basic realm="r", Bearer realm="https://t/x", error="invalid_token"');
    expect(challenges.map((c) => c.scheme)).toEqual(['basic', 'bearer']);
    expect(challenges[1]?.params.get('error')).toBe('invalid_token');
  });
});

describe('nextLink', () => {
  const base = new URL('http://r.example/v2/a/tags/list?n=2');
  it('finds rel="next" among links', () => {
    expect(nextLink('</v2/a/tags/list?n=2&last=b>; rel="next"', base)?.href).toBe('http://r.example/v2/a/tags/list?n=2&last=b');
    expect(nextLink('<http://x/prev>; rel="prev", <http://x/next>; rel=next', base)?.href).toBe('http://x/next');
    expect(nextLink('<http://x/prev>; rel="prev"', base)).toBeUndefined();
    expect(nextLink(undefined, base)).toBeUndefined();
  });
});
