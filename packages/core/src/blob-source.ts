import type { ByteSource } from './byte-source.js';
import { assertExactRange } from './exact-offset.js';

/**
 * A byte source over a `Blob` (a browser `File`, or Node's `Blob`). It shows the contract
 * and the drivers need no Node API.
 */
export class BlobSource implements ByteSource {
  readonly #blob: Blob;

  constructor(blob: Blob) {
    this.#blob = blob;
  }

  get size(): number {
    return this.#blob.size;
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    assertExactRange(position, buffer.length, 'Source read');
    const end = Math.min(position + buffer.length, this.#blob.size);
    let filled = 0;
    if (end > position) {
      const bytes = new Uint8Array(await this.#blob.slice(position, end).arrayBuffer());
      buffer.set(bytes);
      filled = bytes.length;
    }
    buffer.fill(0, filled);
  }

  async close(): Promise<void> {}
}
