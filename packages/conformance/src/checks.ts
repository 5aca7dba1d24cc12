// The checks without vitest: `@vdisk/conformance/checks` for other test runners.
export { assertBytesEqual } from './bytes-equal.js';
export { type CheckedDevice, type OpenCheckedOptions, openChecked } from './checked-device.js';
export {
  type CheckContext,
  checkBlockStatusCovers,
  checkClose,
  checkConcurrentReads,
  checkCorruptInput,
  checkFileOffsets,
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
export {
  checkConcurrentWrites,
  checkDiscard,
  checkFlush,
  checkReadOnlyOpen,
  checkWriteAnywhere,
  checkWriteOutOfRange,
  checkWriteZeroes,
} from './write-checks.js';
