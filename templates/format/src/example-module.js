// @ts-check
import { BLOCK_DRIVER } from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { ExampleDriver } from './example-driver.js';

/**
 * Binds the driver to core's driver token, as vdisk's own formats do. The driver is a plain
 * class with no constructor arguments: it needs no @injectable.
 */
export const exampleModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(ExampleDriver).inSingletonScope();
});
