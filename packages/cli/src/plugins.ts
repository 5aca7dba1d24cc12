import { existsSync } from 'node:fs';
import * as nodeModule from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { driversOf, InvalidArgumentError } from '@vdisk/core';
import type { ContainerModule } from 'inversify';
import { cliLocation } from './cli-location.js';
import { addPluginDrivers } from './default-registry.js';

/**
 * Format plugins given with `--plugin PLUGIN`: an ES module whose default export (or export
 * named `module`, or its one exported ContainerModule) is an inversify ContainerModule that
 * binds a driver to `BLOCK_DRIVER`, exactly as vdisk's own format packages do. PLUGIN is a
 * path (`./my-format.mjs`, `/abs/x.mjs`, or `my-format.mjs` when that file exists) or a
 * package name, found from the current directory first, then from vdisk's own location
 * (a package installed beside a global vdisk). Their drivers join the default registry,
 * after vdisk's own.
 */
export async function loadPlugins(specifiers: readonly string[]): Promise<void> {
  shareCoreWithPlugins();
  const modules: ContainerModule[] = [];
  for (const specifier of specifiers) {
    let exports: Record<string, unknown>;
    try {
      exports = await import(pluginUrl(specifier));
    } catch (error) {
      throw new InvalidArgumentError(
        `Cannot load plugin '${specifier}': ${error instanceof Error ? error.message.split('\n')[0] : error}`,
      );
    }
    const candidates = Object.values(exports).filter(isContainerModule);
    const chosen =
      [exports.default, exports.module].find(isContainerModule) ??
      (candidates.length === 1 ? candidates[0] : undefined);
    if (!chosen) {
      throw new InvalidArgumentError(
        `Plugin '${specifier}' does not export a ContainerModule (as default, 'module', or its only export of one)`,
      );
    }
    modules.push(chosen);
  }
  addPluginDrivers(await driversOf(...modules));
}

/** A ContainerModule of any copy of inversify: its shape, not its class. */
function isContainerModule(value: unknown): value is ContainerModule {
  return typeof (value as Partial<ContainerModule> | undefined)?.load === 'function';
}

function pluginUrl(specifier: string): string {
  if (/^\.{0,2}\//.test(specifier) || existsSync(specifier)) return pathToFileURL(resolve(specifier)).href;
  try {
    // A package installed where the user is (`npm install my-format`), by its "default" export.
    return pathToFileURL(nodeModule.createRequire(join(process.cwd(), 'plugin-parent.js')).resolve(specifier)).href;
  } catch {
    return specifier; // resolved from vdisk's own location, or the error names it
  }
}

let shared = false;

/** Registers plugin-hooks: the CLI's own core and inversify for plugins that have none. */
function shareCoreWithPlugins(): void {
  if (shared || !cliLocation.url) return;
  shared = true;
  const beside = (file: string) => new URL(file, cliLocation.url);
  const hooks = beside('plugin-hooks.mjs');
  const data: Record<string, string> = {
    '@vdisk/core': beside('shared/core.mjs').href,
    '@vdisk/core/node': beside('shared/core-node.mjs').href,
    inversify: beside('shared/inversify.mjs').href,
  };
  // Only in the bundle, where these files are the modules the CLI itself runs.
  if (!existsSync(hooks) || !Object.values(data).every((url) => existsSync(new URL(url)))) return;
  // node:module's register is Node 20.6's; before it, plugins bring their own core.
  if (typeof nodeModule.register === 'function') nodeModule.register(hooks, { data });
}
