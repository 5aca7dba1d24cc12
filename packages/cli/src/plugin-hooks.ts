/**
 * Module resolution hooks for plugins (node:module `register`), loaded only with
 * `--plugin`. A plugin that cannot resolve `@vdisk/core`, `@vdisk/core/node` or `inversify`
 * itself (a single file in a directory with no node_modules, or a package that declares
 * them as peer dependencies) gets the CLI's own: the very modules the CLI runs, so its
 * errors and classes are the CLI's. A plugin that brings its own copies keeps them; its
 * errors are still known, by their brand.
 */

interface ResolveContext {
  parentURL?: string;
  conditions: string[];
}
type NextResolve = (specifier: string, context: ResolveContext) => Promise<{ url: string }>;

/** Specifier → the URL of the CLI's bundled module for it. */
let shared: Record<string, string> = {};

export async function initialize(data: Record<string, string>): Promise<void> {
  shared = data;
}

export async function resolve(
  specifier: string,
  context: ResolveContext,
  nextResolve: NextResolve,
): Promise<{ url: string; shortCircuit?: boolean }> {
  try {
    return await nextResolve(specifier, context);
  } catch (error) {
    const url = shared[specifier];
    if (url && (error as { code?: string }).code === 'ERR_MODULE_NOT_FOUND') return { url, shortCircuit: true };
    throw error;
  }
}
