/**
 * The dispatcher berth uses for NODE_EXTRA_CA_CERTS (image/registry/http.ts): it trusts a
 * CA that Node's bundled roots do not, as Node would with the variable loaded itself.
 */
import { execFile } from 'node:child_process';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { mkdtemp } from 'node:fs/promises';
import { Agent, request } from 'undici';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatcherTrusting } from '../../../../image/registry/index.js';

const exec = promisify(execFile);

describe('trusting NODE_EXTRA_CA_CERTS', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let caPem: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'berth-extra-ca-'));
    const f = (name: string): string => join(dir, name);
    await exec('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('ca.key'),
      '-out', f('ca.pem'), '-days', '1', '-subj', '/CN=berth test CA']);
    await exec('openssl', ['req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', f('server.key'),
      '-out', f('server.csr'), '-subj', '/CN=127.0.0.1']);
    await writeFile(f('ext.cnf'), 'subjectAltName=IP:127.0.0.1\n');
    await exec('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.pem'), '-CAkey', f('ca.key'), '-CAcreateserial',
      '-out', f('server.pem'), '-days', '1', '-extfile', f('ext.cnf')]);
    caPem = await readFile(f('ca.pem'), 'utf8');
    server = createServer({ key: await readFile(f('server.key')), cert: await readFile(f('server.pem')) }, (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}/v2/`;
  });

  afterAll(async () => {
    await new Promise((resolve) => server?.close(resolve));
    await rm(dir, { recursive: true, force: true });
  });

  it('reaches a server whose CA only the extra certificates hold', async () => {
    const dispatcher = await dispatcherTrusting(caPem);
    const response = await request(url, { dispatcher });
    expect(response.statusCode).toBe(200);
    expect(await response.body.text()).toBe('{}');
    await dispatcher.close();
  });

  it('is refused that server without them', async () => {
    const plain = new Agent();
    await expect(request(url, { dispatcher: plain })).rejects.toThrow(/self[- ]signed|unable to (get|verify)/i);
    await plain.close();
  });
});
