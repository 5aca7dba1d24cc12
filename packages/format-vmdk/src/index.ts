export { checkImage } from './check.js';
export { createImage, descriptorFor } from './create-image.js';
export {
  FLAG_ZERO_GRAIN,
  isSparseMagic,
  parseSparseHeader,
  readCid,
  type SparseHeader,
  ZEROED_GRAIN,
} from './header.js';
export { MONOLITHIC_SPARSE, VmdkDriver } from './vmdk-driver.js';
export { type GrainState, VmdkImage } from './vmdk-image.js';
export { vmdkModule } from './vmdk-module.js';
