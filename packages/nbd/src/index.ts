export { type BlockSizes, blockSizesOf, DEFAULT_MAX_PAYLOAD } from './block-sizes.js';
export { exportWritable, type NbdDevice, type NbdExport } from './nbd-device.js';
export * as nbdProtocol from './protocol.js';
export { createNbdServer, NbdServer, type NbdServerOptions } from './server.js';
