export { BochsDriver } from './bochs-driver.js';
export { BochsImage } from './bochs-image.js';
export { bochsModule } from './bochs-module.js';
export { checkImage } from './check.js';
export {
  type BochsGeometry,
  MAX_CATALOG_SIZE,
  MAX_EXTENT_SIZE,
  SECTOR_SIZE,
  UNALLOCATED,
} from './geometry.js';
export { type BochsHeader, HEADER_SIZE, isBochsGrowingHeader, parseHeader } from './header.js';
export {
  BochsRedologDriver,
  baseByBochsRule,
  REDOLOG_EXTENSION,
  REDOLOG_OPTIONS,
  RedologImage,
} from './redolog-driver.js';
export {
  fatTimestamp,
  formatFatTimestamp,
  isBochsRedologHeader,
  parseRedologHeader,
  REDOLOG_SUBTYPES,
  type RedologHeader,
  type RedologSubtype,
} from './redolog-header.js';
export { BochsSparseDriver, parentLayerName } from './sparse-driver.js';
export {
  BXIMAGE_PAGE_SIZE,
  buildSparseHeader,
  isSparseHeader,
  PAGE_NOT_ALLOCATED,
  parseSparseHeader,
  SPARSE_HEADER_SIZE,
  type SparseHeader,
  sparseDataStart,
} from './sparse-header.js';
export { SparseImage } from './sparse-image.js';
