import { describe, expect, it } from 'vitest';
import type { ByteSource } from './byte-source.js';
import { MemorySource } from './memory-source.js';
import { readSource } from './read-source.js';

const bytes = Uint8Array.from({ length: 256 }, (_, i) => 255 - i);

describe('readSource', () => {
  it('falls back to one read per buffer when the source has no readv', async () => {
    const memory = new MemorySource(bytes);
    const reads: Array<[number, number]> = [];
    const source: ByteSource = {
      size: memory.size,
      read: (buffer, position) => {
        reads.push([position, buffer.length]);
        return memory.read(buffer, position);
      },
      close: () => memory.close(),
    };
    const buffers = [new Uint8Array(3), new Uint8Array(5), new Uint8Array(2)];
    await readSource(source, buffers, 250);
    expect(reads).toEqual([
      [250, 3],
      [253, 5],
      [258, 2],
    ]);
    expect(buffers.map((b) => [...b])).toEqual([
      [5, 4, 3],
      [2, 1, 0, 0, 0],
      [0, 0],
    ]);
  });

  it("uses the source's readv, once, when it has one", async () => {
    const calls: Array<[number, number[]]> = [];
    const source: ByteSource = {
      size: bytes.length,
      read: () => Promise.reject(new Error('read must not be called')),
      readv: async (buffers, position) => {
        calls.push([position, buffers.map((b) => b.length)]);
        for (const b of buffers) b.fill(1);
      },
      close: async () => {},
    };
    const buffers = [new Uint8Array(3), new Uint8Array(5)];
    await readSource(source, buffers, 7);
    expect(calls).toEqual([[7, [3, 5]]]);
    expect(buffers.every((b) => b.every((x) => x === 1))).toBe(true);
  });
});
