export { GrowableSource } from './growable-source.js';
export {
  CONVERTED,
  HOSTILE_IMAGES,
  type HostileImage,
  type QemuOutcome,
  type VdiskDifference,
  WRITTEN_SIZE,
  WRITTEN_SPEC,
} from './hostile-images.js';
export { type BochsImageSpec, buildBochsImage, bximageSizing, EMPTY_BOCHS_SPEC } from './image-builder.js';
export { buildSparseImage, type SparseImageSpec } from './sparse-builder.js';
