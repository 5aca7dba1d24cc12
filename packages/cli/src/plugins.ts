import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { InvalidArgumentError } from '@vdisk/core';
import type { ContainerModule } from 'inversify';

/**
 * Format plugins given with `--plugin MODULE`: an ES module whose default export (or
 * export named `module`) is an inversify ContainerModule binding a driver to
 * `BLOCK_DRIVER`, exactly as vdisk's own format packages do.
 */
export async function loadPlugins(specifiers: readonly string[]): Promise<ContainerModule[]> {
  const modules: ContainerModule[] = [];
  for (const specifier of specifiers) {
    const url = /^[./]/.test(specifier) ? pathToFileURL(resolve(specifier)).href : specifier;
    let exports: Record<string, unknown>;
    try {
      exports = await import(url);
    } catch (error) {
      throw new InvalidArgumentError(
        `Cannot load plugin '${specifier}': ${error instanceof Error ? error.message.split('\n')[0] : error}`,
      );
    }
    const candidate = (exports.default ?? exports.module) as Partial<ContainerModule> | undefined;
    if (typeof candidate?.load !== 'function') {
      throw new InvalidArgumentError(
        `Plugin '${specifier}' does not export a ContainerModule (as default or 'module')`,
      );
    }
    modules.push(candidate as ContainerModule);
  }
  return modules;
}
