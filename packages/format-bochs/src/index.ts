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
