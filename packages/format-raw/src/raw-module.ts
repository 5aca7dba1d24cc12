import { BLOCK_DRIVER } from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { RawDriver } from './raw-driver.js';

/** Binds the raw driver. Load it first: a probe tie goes to the driver registered last. */
export const rawModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(RawDriver).inSingletonScope();
});
