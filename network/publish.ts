/**
 * Choosing the host ports of a container's published ports: a fixed one must be free
 * (of other containers' and of the host's programs), "-p 80" gets one from the kernel's
 * ephemeral range (as docker's port allocator does), "-p 8000-8010:80" the first free one
 * of the range. The monitor then holds each chosen port bound (runtime/native/monitor.c
 * --hold-port), so the check here only has to beat a race of milliseconds.
 */
import { createSocket } from 'node:dgram';
import { createServer } from 'node:net';
import { FailedPreconditionError } from '../common/errors.js';
import { hostText, type PortBinding } from './ports.js';
import type { PublishedPort } from './records.js';

/** docker's words for a host port that is taken. */
export function portTaken(hostIp: string, hostPort: number, cause?: unknown): FailedPreconditionError {
  return new FailedPreconditionError(`Bind for ${hostText(hostIp)}:${hostPort} failed: port is already allocated`, {
    hint: 'Another container or program uses the host port; publish on another one', cause,
  });
}

/** The host ports for `bindings`, given the ports other containers of the store publish. */
export async function choosePorts(containerId: string, bindings: readonly PortBinding[], published: readonly PublishedPort[]): Promise<PublishedPort[]> {
  const chosen: PublishedPort[] = [];
  for (const b of bindings) {
    const hostIp = b.hostIp === '0.0.0.0' ? '' : b.hostIp;
    const taken = (port: number): boolean =>
      [...published, ...chosen].some((p) => p.protocol === b.protocol && p.hostPort === port && (p.hostIp === '' || hostIp === '' || p.hostIp === hostIp));
    let hostPort = b.hostPort;
    if (b.hostPortEnd !== undefined) {
      let found: number | undefined;
      for (let c = b.hostPort; c <= b.hostPortEnd && found === undefined; c++) {
        if (!taken(c) && (await bindPort(b.protocol, hostIp, c)) !== undefined) found = c;
      }
      if (found === undefined) throw new FailedPreconditionError(`No free host port for ${b.containerPort}/${b.protocol} in ${b.hostPort}-${b.hostPortEnd}`);
      hostPort = found;
    } else if (hostPort === 0) {
      let found: number | undefined;
      for (let attempt = 0; found === undefined && attempt < 20; attempt++) {
        const c = await bindPort(b.protocol, hostIp, 0);
        if (c !== undefined && !taken(c)) found = c;
      }
      if (found === undefined) throw new FailedPreconditionError(`Cannot find a free ${b.protocol} port on ${hostText(hostIp)}`);
      hostPort = found;
    } else if (taken(hostPort) || (await bindPort(b.protocol, hostIp, hostPort)) === undefined) {
      throw portTaken(hostIp, hostPort);
    }
    chosen.push({ containerId, protocol: b.protocol, hostIp, hostPort, containerPort: b.containerPort });
  }
  return chosen;
}

/** Binds and closes at once; the port bound (the kernel's pick for 0), or undefined when the bind failed. */
function bindPort(protocol: string, hostIp: string, port: number): Promise<number | undefined> {
  const host = hostText(hostIp);
  return new Promise((resolve) => {
    if (protocol === 'udp') {
      const s = createSocket('udp4');
      s.once('error', () => {
        s.close();
        resolve(undefined);
      });
      s.bind({ address: host, port, exclusive: true }, () => {
        const bound = s.address().port;
        s.close(() => resolve(bound));
      });
      return;
    }
    const server = createServer();
    server.once('error', () => resolve(undefined));
    server.listen({ host, port, exclusive: true }, () => {
      const address = server.address();
      const bound = typeof address === 'object' && address !== null ? address.port : undefined;
      server.close(() => resolve(bound));
    });
  });
}
