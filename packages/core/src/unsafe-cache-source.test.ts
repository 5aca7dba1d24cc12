import { describe, expect, it } from 'vitest';
import type { AllocatedSizeSource, ByteSource } from './byte-source.js';
import { MemorySource } from './memory-source.js';
import { unsafeCacheSource } from './unsafe-cache-source.js';

describe('unsafeCacheSource', () => {
  it('drops flushes and passes everything else through, size included', async () => {
    const inner = new MemorySource(new Uint8Array(4));
    let flushes = 0;
    inner.flush = async () => {
      flushes++;
    };
    const source = unsafeCacheSource(inner);
    await source.write?.(Uint8Array.of(9), 6);
    await source.writev?.([Uint8Array.of(1), Uint8Array.of(2)], 0);
    expect(source.size).toBe(7);
    const buffer = new Uint8Array(7);
    await source.readv?.([buffer.subarray(0, 3), buffer.subarray(3)], 0);
    expect(buffer).toEqual(Uint8Array.of(1, 2, 0, 0, 0, 0, 9));
    await source.flush?.();
    expect(flushes).toBe(0);
    await source.truncate?.(2);
    expect(inner.size).toBe(2);
  });

  it('has exactly the optional methods of the source it wraps', () => {
    const bare: ByteSource = { size: 0, read: async () => {}, close: async () => {} };
    const wrapped = unsafeCacheSource(bare);
    expect([wrapped.readv, wrapped.write, wrapped.writev, wrapped.flush, wrapped.truncate]).toEqual([
      undefined,
      undefined,
      undefined,
      undefined,
      undefined,
    ]);
    const sized: AllocatedSizeSource = { ...bare, allocatedSize: async () => 4096 };
    return expect((unsafeCacheSource(sized) as AllocatedSizeSource).allocatedSize()).resolves.toBe(4096);
  });
});
