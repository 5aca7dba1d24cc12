import { describe, expect, it } from 'vitest';
import type { ByteSource } from './byte-source.js';
import { ReadOnlyError } from './errors.js';
import { MemorySource } from './memory-source.js';
import { writeSource } from './write-source.js';

describe('writeSource', () => {
  it('uses one writev when the source has it', async () => {
    const source = new MemorySource(new Uint8Array(8));
    const calls: string[] = [];
    const writev = source.writev.bind(source);
    source.writev = async (buffers, position) => {
      calls.push(`writev ${buffers.length} at ${position}`);
      await writev(buffers, position);
    };
    await writeSource(source, [Uint8Array.of(1), Uint8Array.of(2, 3)], 2);
    expect(calls).toEqual(['writev 2 at 2']);
    expect(source.bytes).toEqual(Uint8Array.of(0, 0, 1, 2, 3, 0, 0, 0));
  });

  it('falls back to one write per buffer, in order', async () => {
    const bytes = new Uint8Array(8);
    const positions: number[] = [];
    const source: ByteSource = {
      size: 8,
      read: async () => {},
      write: async (buffer, position) => {
        positions.push(position);
        bytes.set(buffer, position);
      },
      close: async () => {},
    };
    await writeSource(source, [Uint8Array.of(1, 2), Uint8Array.of(), Uint8Array.of(3)], 4);
    expect(positions).toEqual([4, 6, 6]);
    expect(bytes).toEqual(Uint8Array.of(0, 0, 0, 0, 1, 2, 3, 0));
  });

  it('refuses a source that cannot write', async () => {
    const source: ByteSource = { size: 0, read: async () => {}, close: async () => {} };
    await expect(writeSource(source, [Uint8Array.of(1)], 0)).rejects.toBeInstanceOf(ReadOnlyError);
  });
});
