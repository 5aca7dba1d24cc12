// @ts-check
// `vdisk --plugin` takes the default export (or one named `module`): the ContainerModule.
export { ExampleDriver, ExampleImage } from './example-driver.js';
export { exampleModule, exampleModule as default } from './example-module.js';
export { buildExampleImage } from './testing.js';
