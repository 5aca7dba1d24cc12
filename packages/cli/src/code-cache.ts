import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Script } from 'node:vm';

/** What `requireWithCodeCache` ran: the compiled file, and whether V8 refused the cache. */
export interface CachedRun {
  script: Script;
  /** true: the cache was for another V8 or source, and the file was compiled afresh; undefined: no cache file. */
  cacheRejected: boolean | undefined;
}

/**
 * Runs the CommonJS file `file` as `require` would (Node 20 has no compile cache for user
 * code: `module.enableCompileCache` is Node 22's), compiled with the V8 code cache in
 * `cacheFile` when there is one and V8 takes it. V8 refuses a cache made by another V8
 * version or with other V8 flags, and then compiles the source as if there were none. It
 * checks the source only by its length, though: a cache made for another source of the
 * same length is taken, and runs that other source's code. The caller must make
 * `cacheFile`'s name say which source it was made for (the bundle names it by the hash
 * of the source, scripts/bundle-cli.mjs).
 */
export function requireWithCodeCache(file: string, cacheFile: string | undefined): CachedRun {
  const source = readFileSync(file, 'utf8');
  let cachedData: Buffer | undefined;
  if (cacheFile !== undefined) {
    try {
      cachedData = readFileSync(cacheFile);
    } catch {
      // no cache: compile the source
    }
  }
  // CommonJS's own wrapper, on the source's first line, so that lines in stack traces stay right.
  const script = new Script(`(function (exports, require, module, __filename, __dirname) {${source}\n})`, {
    filename: file,
    cachedData,
  });
  const module = { exports: {} };
  script.runInThisContext()(module.exports, createRequire(file), module, file, dirname(file));
  return { script, cacheRejected: cachedData === undefined ? undefined : script.cachedDataRejected };
}
