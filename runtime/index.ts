/** runtime/: the container engine, the OCI config and plan, and berth's native programs. */
export { hostCgroups, type CgroupProvider } from './cgroups.js';
export type { ContainerConfig, MountRequest, Ulimit } from './config.js';
export { ContainerRecords, processStartTime, type ContainerRecord, type RecordedState } from './containers.js';
export {
  ContainerEngine, parseSignal, readImageFile, type ContainerStatus, type ExecOptions, type ContainerView, type CreateOptions, type EngineDeps, type PullPolicy,
} from './engine.js';
export { findNativePrograms, type NativePrograms } from './native.js';
export { buildPlan, type CgroupView, type PlanInput } from './plan.js';
export { buildSpec, parseUserSpec, resolveUser, type SpecInput } from './spec.js';
export { formatEntry, parseLogLine, parseTimeFilter, readLogs, type LogEntry, type ReadLogsOptions } from './logs.js';
export { VolumeStore, isValidVolumeName, type VolumeRecord } from './volumes.js';
export { OciRuntime, defaultOciRoot, ociFeatures } from './oci-runtime.js';
export { copyFromContainer, copyToContainer, type CopyFromContainerOptions, type CopyToContainerOptions } from './copy.js';
export { containerChanges, type Change } from './diff.js';
export {
  checkResources, noResources, normalizeResources, ociResources, parseCpuList, parseDeviceCgroupRule,
  type DeviceMapping, type ResourceConfig, type ThrottleDevice,
} from './resources.js';
export { hostResolvConf } from './etc.js';
export type { ContainerStats } from './ops/limits.js';
export { containerView, notRunningHint, requireAllowed, type Operation } from './state.js';
export type { SpecAdjuster, SpecAdjustContext } from './spec-adjust.js';
export { containerLowerDirs, inspectContainer, inspectVolume, type NetworkView } from './inspect.js';
export { humanDuration, since } from './durations.js';
export { containerSummary, psFilters, selectContainers, statusText, type ContainerQuery, type ContainerSummary } from './ps.js';
export { parseLogOpts, parseMount, parseTmpfs, parseUlimit, parseVolume } from './host-config.js';
export { attachToContainer, type AttachEngine, type AttachOptions, type TerminalSize } from './attach.js';
export { Services, resolveImage, type ResolveImageOptions, type ServicesOptions, type StorePuller } from './services.js';
export { statsUsage, type StatsUsage, type StatsUsageOptions } from './stats.js';
export { containerTop } from './top.js';
export { containerLogs } from './container-logs.js';
