import { BLOCK_DRIVER } from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { VpcDriver } from './vpc-driver.js';

/** Binds the VHD driver to core's driver token. */
export const vpcModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(VpcDriver).inSingletonScope();
});
