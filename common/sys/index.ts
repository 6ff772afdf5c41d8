/** System-boundary interfaces: what touches the host beyond plain fs and network. */
export * from './fsx.js';
