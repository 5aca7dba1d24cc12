import { BLOCK_DRIVER } from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { VdiDriver } from './vdi-driver.js';

/** Binds the VDI driver to core's driver token. */
export const vdiModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(VdiDriver).inSingletonScope();
});
