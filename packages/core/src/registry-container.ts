import 'reflect-metadata';
import { Container, type ContainerModule, decorate, injectable, multiInject, optional, unmanaged } from 'inversify';
import type { BlockDriver } from './driver.js';
import { Registry } from './registry.js';
import { BLOCK_DRIVER } from './tokens.js';

// Registry is a plain class (so that an embedder without a container loads no inversify);
// here it becomes injectable, its drivers multi-injected, for containers of one's own:
// `container.bind(Registry).toSelf()` then receives every driver bound to BLOCK_DRIVER.
decorate(injectable(), Registry);
decorate([multiInject(BLOCK_DRIVER), optional()], Registry, 0);
decorate(unmanaged(), Registry, 1);

/**
 * The composition root's one call: loads the format modules into a fresh container and
 * resolves a `Registry` that receives every bound driver through multi-injection. The
 * modules' order is the drivers' registration order (a probe tie goes to the last).
 */
export function createRegistry(...modules: ContainerModule[]): Registry {
  const container = new Container();
  container.load(...modules);
  container.bind(Registry).toSelf().inSingletonScope();
  return container.get(Registry);
}

/**
 * The drivers the modules bind to BLOCK_DRIVER, in the modules' order: for a registry
 * built by hand (`new Registry([...mine, ...await driversOf(pluginModule)])`). The modules
 * may load asynchronously (inversify's loadAsync), as a plugin's may.
 */
export async function driversOf(...modules: ContainerModule[]): Promise<BlockDriver[]> {
  const container = new Container();
  await container.loadAsync(...modules);
  return container.getAll(BLOCK_DRIVER, { optional: true });
}
