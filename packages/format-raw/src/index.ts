export { RawDriver, RawImage } from './raw-driver.js';
export { rawModule } from './raw-module.js';
export { parseRawOptions, type RawWindow } from './raw-options.js';
