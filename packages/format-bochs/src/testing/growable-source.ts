import type { ByteSource } from '@vdisk/core';

/**
 * A writable in-memory file for tests, which logs what reached it: each write (position,
 * length) and each barrier, in order, so a test can check the order a driver writes in.
 */
export class GrowableSource implements ByteSource {
  bytes: Uint8Array;
  size: number;
  readonly log: Array<
    { kind: 'write'; position: number; length: number } | { kind: 'flush' } | { kind: 'truncate'; size: number }
  > = [];

  constructor(bytes: Uint8Array = new Uint8Array(0)) {
    this.bytes = bytes.slice();
    this.size = bytes.length;
  }

  /** The file's bytes now. */
  contents(): Uint8Array {
    return this.bytes.slice(0, this.size);
  }

  async read(buffer: Uint8Array, position: number): Promise<void> {
    const available = Math.max(0, Math.min(buffer.length, this.size - position));
    if (available > 0) buffer.set(this.bytes.subarray(position, position + available));
    buffer.fill(0, Math.max(0, available));
  }

  async write(buffer: Uint8Array, position: number): Promise<void> {
    this.log.push({ kind: 'write', position, length: buffer.length });
    this.#reserve(position + buffer.length);
    this.bytes.set(buffer, position);
    this.size = Math.max(this.size, position + buffer.length);
  }

  async flush(): Promise<void> {
    this.log.push({ kind: 'flush' });
  }

  async truncate(size: number): Promise<void> {
    this.log.push({ kind: 'truncate', size });
    this.#reserve(size);
    this.bytes.fill(0, size);
    this.size = size;
  }

  async close(): Promise<void> {}

  #reserve(size: number): void {
    if (size <= this.bytes.length) return;
    const grown = new Uint8Array(Math.max(size, this.bytes.length * 2));
    grown.set(this.bytes);
    this.bytes = grown;
  }
}
