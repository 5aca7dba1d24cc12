import { BLOCK_DRIVER } from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { BochsDriver } from './bochs-driver.js';
import { BochsRedologDriver } from './redolog-driver.js';
import { BochsSparseDriver } from './sparse-driver.js';

/** Binds the Bochs family's drivers to core's driver token: growing (QEMU's `bochs`), sparse, and the undoable/volatile redolog. */
export const bochsModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(BochsDriver).inSingletonScope();
  bind(BLOCK_DRIVER).to(BochsSparseDriver).inSingletonScope();
  bind(BLOCK_DRIVER).to(BochsRedologDriver).inSingletonScope();
});
