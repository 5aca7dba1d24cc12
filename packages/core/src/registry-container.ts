import 'reflect-metadata';
import { Container, type ContainerModule } from 'inversify';
import { Registry } from './registry.js';

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
