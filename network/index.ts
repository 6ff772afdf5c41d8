/** network/: bridges, address leases, veth pairs, nftables NAT and ports, DNS for user networks. */
export { defaultNetworkName } from './default-network.js';
export { NetworkManager, hostInterfaceName, type Attachment, type CreateNetworkOptions, type EndpointRequest, type NetworkManagerDeps } from './manager.js';
export { NetworkRecords, type EndpointRecord, type NetworkRecord, type PublishedPort } from './records.js';
export { tableName } from './nft.js';
export { findNetProgram } from './netlink.js';
export { parseIpv4 } from './ipam.js';
export { checkConflicts, parseExpose, parsePublish, publishAll, type PortBinding, type Protocol } from './ports.js';
export { formatPortLines, formatPortsColumn, portMap } from './port-format.js';
export { dnsAddresses, ensureDnsDaemon, hostNameservers, runDnsDaemon } from './dns-daemon.js';
export { inspectNetwork, listNetworks, networkFilters, type NetworkInspectOptions, type NetworkListing } from './inspect.js';
