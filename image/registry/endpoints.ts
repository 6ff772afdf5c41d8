/**
 * Where a registry domain is served and whether plain HTTP is allowed for it. Like docker's
 * `insecure-registries` (docker/docker registry/config.go `isSecureIndex`): loopback
 * (127.0.0.0/8, ::1, "localhost") and the listed registries (exact "host" or "host:port",
 * or CIDRs matched against IP literals) are insecure and spoken to over plain HTTP; every
 * other registry over HTTPS. Unlike docker, berth does not resolve host names to match them
 * against CIDRs: list such registries by name.
 */
import { BlockList, isIP } from 'node:net';
import { InvalidArgumentError } from '../../common/errors.js';
import { registryHost } from '../reference.js';

/** Options of {@link RegistryEndpoints}. */
export interface RegistryEndpointsOptions {
  /** docker `insecure-registries`: "host", "host:port" or CIDR ("10.0.0.0/8"). */
  readonly insecureRegistries?: readonly string[] | undefined;
  /**
   * Base URL per registry domain ("scheme://host[:port]"), replacing the derived one:
   * tests aim a domain such as "docker.io" at a loopback server this way.
   */
  readonly endpoints?: Readonly<Record<string, string>> | undefined;
}

const insecureHint = 'List insecure registries as "host", "host:port" or a CIDR such as "10.0.0.0/8"';

/** Base URLs and transport security per registry domain. Immutable after construction. */
export class RegistryEndpoints {
  readonly #insecureNames = new Set<string>();
  readonly #insecureNets = new BlockList();
  readonly #overrides = new Map<string, URL>();

  constructor(options: RegistryEndpointsOptions = {}) {
    this.#insecureNets.addSubnet('127.0.0.0', 8, 'ipv4');
    this.#insecureNets.addAddress('::1', 'ipv6');
    for (const entry of options.insecureRegistries ?? []) this.#addInsecure(entry);
    for (const [domain, base] of Object.entries(options.endpoints ?? {})) {
      this.#overrides.set(domain.toLowerCase(), parseBaseUrl(domain, base));
    }
  }

  /** The base URL (origin only) of a registry domain's API, e.g. "https://registry-1.docker.io". */
  baseUrl(domain: string): URL {
    const override = this.#overrides.get(domain.toLowerCase());
    if (override !== undefined) return new URL(override.href);
    const scheme = this.isInsecure(domain) ? 'http' : 'https';
    return new URL(`${scheme}://${registryHost(domain)}`);
  }

  /** True when `host` ("name[:port]", IPv6 in brackets) is loopback or listed as insecure. */
  isInsecure(host: string): boolean {
    const lower = host.toLowerCase();
    const name = hostName(lower);
    if (name === 'localhost' || this.#insecureNames.has(lower)) return true;
    const family = isIP(name);
    if (family === 0) return false;
    return this.#insecureNets.check(name, family === 4 ? 'ipv4' : 'ipv6');
  }

  /**
   * True when credentials may be sent to `url`: over HTTPS, or to a loopback or listed
   * insecure host, where the user accepted plain HTTP.
   */
  canSendCredentials(url: URL): boolean {
    return url.protocol === 'https:' || this.isInsecure(url.host);
  }

  #addInsecure(raw: string): void {
    const entry = raw.trim().toLowerCase().replace(/^[a-z][a-z0-9+.-]*:\/\//, '').replace(/\/+$/, '');
    const slash = entry.indexOf('/');
    if (slash === -1) {
      if (entry === '') throw new InvalidArgumentError('Invalid insecure registry "": it is empty', { hint: insecureHint });
      this.#insecureNames.add(entry);
      return;
    }
    const address = entry.slice(0, slash);
    const prefix = Number(entry.slice(slash + 1));
    const family = isIP(address);
    const maxPrefix = family === 4 ? 32 : 128;
    if (family === 0 || !Number.isInteger(prefix) || prefix < 0 || prefix > maxPrefix) {
      throw new InvalidArgumentError(`Invalid insecure registry "${raw}": it is neither a host nor a CIDR`, { hint: insecureHint });
    }
    this.#insecureNets.addSubnet(address, prefix, family === 4 ? 'ipv4' : 'ipv6');
  }
}

/** "host[:port]" → host, without the brackets of an IPv6 literal. */
function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end === -1 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(':');
  return colon === -1 ? host : host.slice(0, colon);
}

function parseBaseUrl(domain: string, base: string): URL {
  let url: URL;
  try {
    url = new URL(base);
  } catch (err) {
    throw new InvalidArgumentError(`Invalid endpoint for registry "${domain}": "${base}" is not a URL`, { cause: err });
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new InvalidArgumentError(`Invalid endpoint for registry "${domain}": "${base}" is not an http or https URL`);
  }
  return new URL(url.origin);
}
