export { isAllZero } from './all-zero.js';
export { type AllocationMapOptions, allocationMap, DEFAULT_MAP_WINDOW, dataRanges } from './allocation-map.js';
export { AsyncMutex } from './async-mutex.js';
export { BlobSource } from './blob-source.js';
export { appendRun, BlockDevice, type BlockDeviceOptions } from './block-device.js';
export type { AllocatedSizeSource, ByteSource } from './byte-source.js';
export { type CopyDeviceOptions, copyDevice } from './copy-device.js';
export {
  type BlockDriver,
  type BlockStatusOptions,
  type BlockStatusRun,
  type CheckOptions,
  type CheckProblem,
  type CheckProblemKind,
  type CheckReport,
  type CreateOptions,
  DRIVER_CAPABILITIES,
  type DriverCapability,
  type DriverImage,
  type DriverOpenOptions,
  driverCapabilities,
  type FormatSpecificInfo,
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
export { parseSize } from './size.js';
export { BLOCK_DRIVER } from './tokens.js';
export { type TrackedRequest, TrackedRequests } from './tracked-requests.js';
export { unsafeCacheSource } from './unsafe-cache-source.js';
export { writeSource } from './write-source.js';
