/**
 * The registry a login names (`berth login SERVER`, the API's POST /auth `serveraddress`),
 * as the domain its credentials are kept under.
 */

/** `https://host:5000/` → `host:5000`; Docker Hub's aliases → `docker.io`. */
export function normaliseServer(server: string): string {
  const host = server.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  return host === 'index.docker.io' || host === 'registry-1.docker.io' ? 'docker.io' : host;
}
