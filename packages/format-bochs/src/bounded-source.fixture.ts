import { type ByteSource, MemorySource } from '@vdisk/core';

/**
 * A byte source over bytes for tests of allocation bounds: it fails any single read larger
 * than `bound`, and counts what is read (the largest read, and the bytes in all).
 */
export class BoundedSource implements ByteSource {
  bound = Number.POSITIVE_INFINITY;
  largest = 0;
  total = 0;
  readonly #inner: MemorySource;

  constructor(bytes: Uint8Array) {
    this.#inner = new MemorySource(bytes);
  }

  get size(): number {
    return this.#inner.size;
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    if (buffer.length > this.bound) {
      throw new Error(`unbounded read: ${buffer.length} bytes at ${position}, bound ${this.bound}`);
    }
    this.largest = Math.max(this.largest, buffer.length);
    this.total += buffer.length;
    return this.#inner.read(buffer, position);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }
}
