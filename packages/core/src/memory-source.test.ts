import { describe, expect, it } from 'vitest';
import { BlobSource } from './blob-source.js';
import type { ByteSource } from './byte-source.js';
import { ReadOnlyError, UnsafeOffsetError } from './errors.js';
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

describe('MemorySource writes', () => {
  it('writes into the bytes it was given, and grows past the end with zeros between', async () => {
    const given = new Uint8Array(8);
    const source = new MemorySource(given);
    await source.write(Uint8Array.of(1, 2), 3);
    expect(given).toEqual(Uint8Array.of(0, 0, 0, 1, 2, 0, 0, 0));
    await source.writev([Uint8Array.of(7), Uint8Array.of(8, 9)], 20);
    expect(source.size).toBe(23);
    expect(source.bytes).toEqual(Uint8Array.of(0, 0, 0, 1, 2, 0, 0, 0, ...new Array(12).fill(0), 7, 8, 9));
    const buffer = new Uint8Array(4);
    await source.read(buffer, 20);
    expect(buffer).toEqual(Uint8Array.of(7, 8, 9, 0));
  });

  it('grows by doubling: many small appends copy little', async () => {
    const source = new MemorySource();
    for (let i = 0; i < 10_000; i++) await source.write(Uint8Array.of(i & 0xff), i);
    expect(source.size).toBe(10_000);
    expect(source.bytes[9999]).toBe(9999 & 0xff);
  });

  it('truncates, and what was cut reads as zeros when it grows again', async () => {
    const source = new MemorySource(new Uint8Array(10).fill(5));
    await source.truncate(4);
    expect(source.size).toBe(4);
    await source.truncate(8);
    expect(source.bytes).toEqual(Uint8Array.of(5, 5, 5, 5, 0, 0, 0, 0));
  });

  it('refuses writes when read-only, and bad positions', async () => {
    const source = new MemorySource(new Uint8Array(4), { writable: false });
    await expect(source.write(Uint8Array.of(1), 0)).rejects.toBeInstanceOf(ReadOnlyError);
    await expect(source.truncate(0)).rejects.toBeInstanceOf(ReadOnlyError);
    expect(source.bytes).toEqual(new Uint8Array(4));
    await expect(new MemorySource().write(Uint8Array.of(1), 2 ** 53)).rejects.toBeInstanceOf(UnsafeOffsetError);
  });
});
