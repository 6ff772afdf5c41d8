/**
 * The registry client: the OCI distribution API over undici, docker-compatible token and
 * basic auth, and the credential store `berth login` writes.
 */
export {
  RegistryClient,
  type RegistryClientOptions,
  type RegistryRequestOptions,
  type BlobRequestOptions,
  type BlobResult,
  type TagListOptions,
} from './client.js';
export type { ManifestResult } from './manifest.js';
export type { Credentials, CredentialProvider, Clock } from './auth.js';
export { CredentialStore, dockerHubAuthKey, type CredentialStoreOptions } from './credentials.js';
export { RegistryEndpoints, type RegistryEndpointsOptions } from './endpoints.js';
export { dispatcherTrusting } from './http.js';
