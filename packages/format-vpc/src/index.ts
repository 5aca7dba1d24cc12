export { BLOCK_SIZE, buildDynamicHeader, buildFooter, createImage, vhdLayout } from './create-image.js';
export {
  calculateGeometry,
  DISK_DIFFERENCING,
  DISK_DYNAMIC,
  DISK_FIXED,
  isValidFooter,
  parseFooter,
  type VhdFooter,
  vhdChecksum,
  virtualSectors,
} from './footer.js';
export { VpcDriver } from './vpc-driver.js';
export { type DynamicLayout, VpcImage } from './vpc-image.js';
export { vpcModule } from './vpc-module.js';
