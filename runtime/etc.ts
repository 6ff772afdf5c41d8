/**
 * The per-container /etc/hostname, /etc/hosts and /etc/resolv.conf, written in the
 * container's directory and bind-mounted over the image's, as docker does.
 */
import { readFileSync } from 'node:fs';

/** /etc/hostname. */
export function hostnameFile(hostname: string): string {
  return `${hostname}\n`;
}

/** /etc/hosts: docker's defaults, then the container's own addresses and extra hosts. */
export function hostsFile(hostname: string, addresses: readonly string[], extra: readonly { host: string; ip: string }[] = []): string {
  const lines = [
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'ff00::0\tip6-mcastprefix',
    'ff02::1\tip6-allnodes',
    'ff02::2\tip6-allrouters',
  ];
  for (const e of extra) lines.push(`${e.ip}\t${e.host}`);
  for (const a of addresses) lines.push(`${a}\t${hostname}`);
  return `${lines.join('\n')}\n`;
}

/**
 * /etc/resolv.conf from the host's, without loopback nameservers (they mean nothing inside
 * the container's network namespace); with none left, docker's fallback of Google's
 * public resolvers (moby libnetwork/resolvconf).
 */
export function resolvConfFrom(host: string, overrides: { dns?: readonly string[]; search?: readonly string[]; options?: readonly string[] } = {}): string {
  const nameservers: string[] = [];
  const search: string[] = [];
  const options: string[] = [];
  for (const raw of host.split('\n')) {
    const line = raw.trim();
    const [key, ...rest] = line.split(/\s+/);
    if (key === 'nameserver' && rest[0] !== undefined && !/^127\.|^::1$/.test(rest[0])) nameservers.push(rest[0]);
    else if (key === 'search' || key === 'domain') search.splice(0, search.length, ...rest);
    else if (key === 'options') options.push(...rest);
  }
  const ns = overrides.dns !== undefined && overrides.dns.length > 0 ? [...overrides.dns] : nameservers.length > 0 ? nameservers : ['8.8.8.8', '8.8.4.4'];
  const s = overrides.search ?? search;
  const o = overrides.options ?? options;
  const out = ns.map((n) => `nameserver ${n}`);
  if (s.length > 0) out.push(`search ${s.join(' ')}`);
  if (o.length > 0) out.push(`options ${o.join(' ')}`);
  return `${out.join('\n')}\n`;
}

/**
 * The host's /etc/resolv.conf, or empty when it has none (or it cannot be read: the
 * container then gets the fallback resolvers). Synchronous: a small file, read while the
 * container's directory is made (engine.ts).
 */
export function hostResolvConf(path = '/etc/resolv.conf'): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
