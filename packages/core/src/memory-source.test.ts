import { describe, expect, it } from 'vitest';
import { BlobSource } from './blob-source.js';
import type { ByteSource } from './byte-source.js';
import { UnsafeOffsetError } from './errors.js';
import { MemorySource } from './memory-source.js';

const bytes = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7 + 3) & 0xff);

describe.each([
  ['MemorySource', () => new MemorySource(bytes)],
  ['BlobSource', () => new BlobSource(new Blob([bytes]))],
] as Array<[string, () => ByteSource]>)('%s', (_name, make) => {
  it('knows its size', () => {
    expect(make().size).toBe(1000);
  });

  it('reads positionally', async () => {
    const buffer = new Uint8Array(100);
    await make().read(buffer, 450);
    expect(buffer).toEqual(bytes.subarray(450, 550));
  });

  it('zero-fills what lies past the end, as QEMU does for a truncated file', async () => {
    const buffer = new Uint8Array(100).fill(0xee);
    await make().read(buffer, 950);
    expect(buffer.subarray(0, 50)).toEqual(bytes.subarray(950));
    expect(buffer.subarray(50)).toEqual(new Uint8Array(50));
    const far = new Uint8Array(10).fill(0xee);
    await make().read(far, 1_000_000);
    expect(far).toEqual(new Uint8Array(10));
  });

  it('refuses positions past 2^53', async () => {
    await expect(make().read(new Uint8Array(1), 2 ** 53)).rejects.toBeInstanceOf(UnsafeOffsetError);
  });
});
