import type { ByteSource } from './byte-source.js';
import { assertExactRange } from './exact-offset.js';

/** A byte source over bytes in memory: for tests, and for embedders who hold an image already. */
export class MemorySource implements ByteSource {
  readonly #bytes: Uint8Array;

  constructor(bytes: Uint8Array) {
    this.#bytes = bytes;
  }

  get size(): number {
    return this.#bytes.length;
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source read');
    const available = Math.max(0, Math.min(buffer.length, this.#bytes.length - position));
    if (available > 0) buffer.set(this.#bytes.subarray(position, position + available));
    buffer.fill(0, available);
  }

  async close(): Promise<void> {}
}
