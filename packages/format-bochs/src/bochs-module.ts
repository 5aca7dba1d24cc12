import { BLOCK_DRIVER } from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { BochsDriver } from './bochs-driver.js';

/** Binds the Bochs driver to core's driver token. */
export const bochsModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(BochsDriver).inSingletonScope();
});
