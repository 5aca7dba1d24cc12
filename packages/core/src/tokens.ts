import type { ServiceIdentifier } from 'inversify';
import type { BlockDriver } from './driver.js';

/** The service identifier every format package binds its driver to (multi-binding). */
export const BLOCK_DRIVER: ServiceIdentifier<BlockDriver> = Symbol.for('vdisk.BlockDriver');
