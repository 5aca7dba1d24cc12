export { checkImage } from './check.js';
export { createImage } from './create-image.js';
export {
  BLOCK_SIZE,
  DISCARDED,
  hasSignature,
  parseHeader,
  TYPE_DYNAMIC,
  TYPE_STATIC,
  UNALLOCATED,
  type VdiHeader,
} from './header.js';
export { VdiDriver } from './vdi-driver.js';
export { VdiImage } from './vdi-image.js';
export { vdiModule } from './vdi-module.js';
