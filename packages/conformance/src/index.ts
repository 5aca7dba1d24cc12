export { assertBytesEqual } from './bytes-equal.js';
export { type CheckedDevice, openChecked } from './checked-device.js';
export {
  type CheckContext,
  checkBlockStatusCovers,
  checkClose,
  checkConcurrentReads,
  checkMapMatchesRead,
  checkOpen,
  checkOutOfRange,
  checkProbeOwnImage,
  checkProbeRange,
  checkReadAnywhere,
  checkReadWhole,
  checkScatterRead,
} from './conformance-checks.js';
export type { ConformanceImage, MakeImage } from './conformance-image.js';
export { type DriverConformanceOptions, runDriverConformance } from './run-driver-conformance.js';
