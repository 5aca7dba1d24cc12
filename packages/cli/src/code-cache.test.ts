import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { requireWithCodeCache } from './code-cache.js';

let dir: string;
const path = (name: string) => join(dir, name);
const results = globalThis as { codeCacheTest?: unknown };

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'vdisk-code-cache-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A CommonJS file that reports what it ran as, and with what `require` and `__filename`. */
const program = (value: number) =>
  `globalThis.codeCacheTest = { value: (function () { return ${value}; })(), sep: require('node:path').sep, file: __filename };`;

describe('requireWithCodeCache', () => {
  it('runs the file as CommonJS, with or without a cache', async () => {
    await writeFile(path('a.cjs'), program(1111));
    const first = requireWithCodeCache(path('a.cjs'), path('none.cache'));
    expect(first.cacheRejected).toBeUndefined();
    expect(results.codeCacheTest).toEqual({ value: 1111, sep: '/', file: path('a.cjs') });
    await writeFile(path('a.cache'), first.script.createCachedData());
    results.codeCacheTest = undefined;
    const cached = requireWithCodeCache(path('a.cjs'), path('a.cache'));
    expect(cached.cacheRejected).toBe(false);
    expect(results.codeCacheTest).toEqual({ value: 1111, sep: '/', file: path('a.cjs') });
  });

  it('compiles the source afresh when V8 refuses the cache', async () => {
    await writeFile(path('b.cjs'), program(1111));
    await writeFile(path('b.cache'), requireWithCodeCache(path('b.cjs'), undefined).script.createCachedData());
    await writeFile(path('b.cjs'), program(22222));
    expect(requireWithCodeCache(path('b.cjs'), path('b.cache')).cacheRejected).toBe(true);
    expect(results.codeCacheTest).toMatchObject({ value: 22222 });
    // A damaged cache: what V8 says of it varies, but it runs the source.
    for (const garbage of [Buffer.from('not a cache'), Buffer.alloc(4096, 7)]) {
      await writeFile(path('garbage.cache'), garbage);
      results.codeCacheTest = undefined;
      requireWithCodeCache(path('b.cjs'), path('garbage.cache'));
      expect(results.codeCacheTest).toMatchObject({ value: 22222 });
    }
  });

  it('is fooled by a cache of another source of the same length: why its name must say which source', async () => {
    await writeFile(path('c.cjs'), program(1111));
    await writeFile(path('c.cache'), requireWithCodeCache(path('c.cjs'), undefined).script.createCachedData());
    await writeFile(path('c.cjs'), program(2222));
    expect(requireWithCodeCache(path('c.cjs'), path('c.cache')).cacheRejected).toBe(false);
    expect(results.codeCacheTest).toMatchObject({ value: 1111 });
  });
});
