import { BLOCK_DRIVER } from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { VmdkDriver } from './vmdk-driver.js';

/** Binds the VMDK driver to core's driver token. */
export const vmdkModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(VmdkDriver).inSingletonScope();
});
