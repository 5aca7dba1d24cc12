export { isAllZero } from './all-zero.js';
export { type AllocationMapOptions, allocationMap, DEFAULT_MAP_WINDOW, dataRanges } from './allocation-map.js';
export { AsyncMutex } from './async-mutex.js';
export {
  appendMapRun,
  type Backing,
  BackingChainError,
  type BackingOpener,
  backingChain,
  chainStatus,
  MAX_BACKING_DEPTH,
  type MapRun,
  type OpenedBacking,
} from './backing-chain.js';
export { BlobSource } from './blob-source.js';
export { appendRun, BlockDevice, type BlockDeviceOptions } from './block-device.js';
export type { AllocatedSizeSource, ByteSource, ModifiedTimeSource } from './byte-source.js';
export { type CommitOptions, commitDevice } from './commit-device.js';
export { type CopyDeviceOptions, copyDevice } from './copy-device.js';
export {
  type BackingReference,
  type BlockDriver,
  type BlockStatusOptions,
  type BlockStatusRun,
  type CheckOptions,
  type CheckProblem,
  type CheckProblemKind,
  type CheckReport,
  type CreateBacking,
  type CreateOptions,
  DRIVER_CAPABILITIES,
  type DriverCapability,
  type DriverImage,
  type DriverOpenOptions,
  driverCapabilities,
  type FormatSpecificInfo,
  type ProbeContext,
  type RepairMode,
  type WriteOptions,
  type ZeroOptions,
} from './driver.js';
export {
  AbortedError,
  DriverContractError,
  hasErrorCode,
  ImageFormatError,
  InvalidArgumentError,
  isVdiskError,
  OutOfRangeError,
  ReadOnlyError,
  SystemError,
  throwIfAborted,
  UnknownFormatError,
  UnsafeOffsetError,
  VdiskError,
  type VdiskErrorCode,
  type VdiskErrorOptions,
} from './errors.js';
export { EventLoopYielder } from './event-loop-yielder.js';
export { assertExactRange, exactOffset } from './exact-offset.js';
export { type FileRun, FileRuns, zeroBuffers } from './file-runs.js';
export { IoVector } from './io-vector.js';
export { MemorySource, type MemorySourceOptions } from './memory-source.js';
export { readSource } from './read-source.js';
export {
  type CacheMode,
  type CreateImageOptions,
  type OpenImageOptions,
  PROBE_SIZE,
  type ProbeResult,
  Registry,
  type RegistryOptions,
} from './registry.js';
export { createRegistry, driversOf } from './registry-container.js';
export { parseSize, type SizeParse, strtosz } from './size.js';
export { BLOCK_DRIVER } from './tokens.js';
export { type TrackedRequest, TrackedRequests } from './tracked-requests.js';
export { unsafeCacheSource } from './unsafe-cache-source.js';
export { createVolatileOverlay, OVERLAY_CLUSTER_SIZE } from './volatile-overlay.js';
export { writeSource } from './write-source.js';
