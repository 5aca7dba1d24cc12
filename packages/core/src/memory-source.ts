import type { ByteSource } from './byte-source.js';
import { ReadOnlyError, SystemError } from './errors.js';
import { assertExactRange } from './exact-offset.js';

export interface MemorySourceOptions {
  /** Accept writes (the default). A read-only source rejects them with `ReadOnlyError`. */
  writable?: boolean;
}

/**
 * A byte source over bytes in memory: for tests, and for embedders who hold an image
 * already (a browser creates images on one too). It is writable and grows with writes
 * past its end. Writes land in the array it was given for as long as they fit; growing
 * moves the bytes to a larger array (capacity doubling, as a vector does), and `bytes`
 * always shows the current content.
 */
export class MemorySource implements ByteSource {
  #store: Uint8Array;
  #size: number;
  readonly #writable: boolean;

  constructor(bytes: Uint8Array = new Uint8Array(0), options: MemorySourceOptions = {}) {
    this.#store = bytes;
    this.#size = bytes.length;
    this.#writable = options.writable ?? true;
  }

  get size(): number {
    return this.#size;
  }

  get writable(): boolean {
    return this.#writable;
  }

  /** The source's current bytes (a view, not a copy: it changes with later writes until the source grows). */
  get bytes(): Uint8Array {
    return this.#store.subarray(0, this.#size);
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source read');
    const available = Math.max(0, Math.min(buffer.length, this.#size - position));
    if (available > 0) buffer.set(this.#store.subarray(position, position + available));
    buffer.fill(0, available);
  }

  async readv(buffers: readonly Uint8Array[], position: number): Promise<void> {
    let at = position;
    for (const buffer of buffers) {
      await this.read(buffer, at);
      at += buffer.length;
    }
  }

  async write(buffer: Uint8Array, position: number): Promise<void> {
    this.#writeAt([buffer], position);
  }

  async writev(buffers: readonly Uint8Array[], position: number): Promise<void> {
    this.#writeAt(buffers, position);
  }

  /** Nothing to make durable in memory. */
  async flush(): Promise<void> {}

  async truncate(size: number): Promise<void> {
    assertExactRange(0, size, 'Truncate');
    if (!this.#writable) throw new ReadOnlyError('Source is read-only');
    if (size > this.#size) {
      this.#reserve(size);
    } else {
      // Cut bytes are zeroed, so that growing again reads zeros there (ftruncate's rule).
      this.#store.fill(0, size, this.#size);
    }
    this.#size = size;
  }

  async close(): Promise<void> {}

  /** All of it synchronously: one write is atomic, as a pwrite is to readers of the page cache. */
  #writeAt(buffers: readonly Uint8Array[], position: number): void {
    let total = 0;
    for (const buffer of buffers) total += buffer.length;
    assertExactRange(position, total, 'Source write');
    if (!this.#writable) throw new ReadOnlyError('Source is read-only');
    const end = position + total;
    if (end > this.#store.length) this.#reserve(end);
    let at = position;
    for (const buffer of buffers) {
      this.#store.set(buffer, at);
      at += buffer.length;
    }
    // A write past the end leaves a hole of zeros between, as a file does.
    if (end > this.#size) this.#size = end;
  }

  /** Makes room for `size` bytes, doubling the capacity; new bytes are zeros. */
  #reserve(size: number): void {
    if (size <= this.#store.length) return;
    const capacity = Math.max(size, Math.min(2 * this.#store.length, Number.MAX_SAFE_INTEGER));
    let grown: Uint8Array;
    try {
      grown = new Uint8Array(capacity);
    } catch {
      try {
        grown = new Uint8Array(size);
      } catch (error) {
        throw new SystemError('Cannot allocate memory', 'ENOMEM', { cause: error });
      }
    }
    grown.set(this.#store.subarray(0, this.#size));
    this.#store = grown;
  }
}
