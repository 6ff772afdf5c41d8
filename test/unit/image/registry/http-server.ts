/**
 * A real `node:http` server on a loopback address and port 0, recording the requests it
 * gets, for registry client tests.
 */
import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Agent } from 'undici';
import { RegistryClient, type RegistryClientOptions } from '../../../../image/registry/index.js';

/** One request a test server received. */
export interface Recorded {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
}

/** A running test server. */
export interface TestServer {
  /** "http://127.0.0.1:PORT" */
  readonly origin: string;
  /** "127.0.0.1:PORT": a registry domain that is plain HTTP because it is loopback. */
  readonly host: string;
  readonly requests: Recorded[];
  close(): Promise<void>;
}

/** Handles one request; the body of the request is already drained. */
export type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** Starts a server on `address` (another 127/8 address acts as "another host"). */
export async function startServer(handler: Handler, address = '127.0.0.1'): Promise<TestServer> {
  const requests: Recorded[] = [];
  const server = createServer((req, res) => {
    requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    req.resume();
    const url = new URL(req.url ?? '/', `http://${req.headers.host ?? address}`);
    void Promise.resolve(handler(req, res, url)).catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, address, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    origin: `http://${address}:${port}`,
    host: `${address}:${port}`,
    requests,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** Sends a JSON document. */
export function sendJson(res: ServerResponse, status: number, document: unknown, headers: Record<string, string> = {}): void {
  const body = JSON.stringify(document);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), ...headers });
  res.end(body);
}

/** A distribution-spec error body. */
export function sendError(res: ServerResponse, status: number, code: string, message: string, headers: Record<string, string> = {}): void {
  sendJson(res, status, { errors: [{ code, message, detail: null }] }, headers);
}

/** A registry client on its own undici Agent, closed by `close`. */
export function makeClient(options: Partial<RegistryClientOptions> = {}): { client: RegistryClient; close(): Promise<void> } {
  const agent = new Agent({ connect: { timeout: 5_000 } });
  const client = new RegistryClient({ dispatcher: agent, credentials: { get: async () => undefined }, ...options });
  return { client, close: () => agent.close() };
}

/** Runs `fn` and returns what it threw. */
export async function caught(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}
