/**
 * An in-memory device for the protocol tests: bytes plus a map of what was written, so
 * BLOCK_STATUS has holes to report, and hooks to hold requests in flight.
 */
import type { BlockStatusRun } from '@vdisk/core';
import { OutOfRangeError } from '@vdisk/core';
import type { NbdDevice } from './nbd-device.js';

export class MemoryDevice implements NbdDevice {
  readonly bytes: Uint8Array;
  /** One flag per 4 KiB unit: written (data) or not (a hole). */
  readonly allocated: Uint8Array;
  readonly requestAlignment: number;
  writable = true;
  flushes = 0;
  /** Requests being served now, and the most there ever were (by count and by bytes). */
  inFlight = 0;
  maxInFlight = 0;
  bytesInFlight = 0;
  maxBytesInFlight = 0;
  /** When set, every read and write waits for this promise first. */
  gate: Promise<void> | undefined;

  constructor(size: number, requestAlignment = 512) {
    this.bytes = new Uint8Array(size);
    this.allocated = new Uint8Array(Math.ceil(size / 4096));
    this.requestAlignment = requestAlignment;
  }

  get virtualSize(): number {
    return this.bytes.length;
  }

  async #held<T>(bytes: number, work: () => T): Promise<T> {
    this.inFlight += 1;
    this.bytesInFlight += bytes;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    this.maxBytesInFlight = Math.max(this.maxBytesInFlight, this.bytesInFlight);
    try {
      if (this.gate) await this.gate;
      await new Promise((resolve) => setImmediate(resolve));
      return work();
    } finally {
      this.inFlight -= 1;
      this.bytesInFlight -= bytes;
    }
  }

  #check(offset: number, length: number): void {
    if (offset + length > this.bytes.length) throw new OutOfRangeError('beyond the end');
  }

  readInto(buffer: Uint8Array, offset: number): Promise<void> {
    return this.#held(buffer.length, () => {
      this.#check(offset, buffer.length);
      buffer.set(this.bytes.subarray(offset, offset + buffer.length));
    });
  }

  write(offset: number, bytes: Uint8Array): Promise<void> {
    return this.#held(bytes.length, () => {
      this.#check(offset, bytes.length);
      this.bytes.set(bytes, offset);
      this.#mark(offset, bytes.length, 1);
    });
  }

  writeZeroes(offset: number, length: number, options: { mayUnmap?: boolean } = {}): Promise<void> {
    return this.#held(0, () => {
      this.#check(offset, length);
      this.bytes.fill(0, offset, offset + length);
      if (options.mayUnmap) this.#unmapWhole(offset, length);
    });
  }

  discard(offset: number, length: number): Promise<void> {
    return this.writeZeroes(offset, length, { mayUnmap: true });
  }

  async flush(): Promise<void> {
    this.flushes += 1;
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatusRun[]> {
    const runs: BlockStatusRun[] = [];
    for (let at = offset; at < offset + length; ) {
      const unit = Math.floor(at / 4096);
      const stop = Math.min(offset + length, (unit + 1) * 4096);
      const data = this.allocated[unit] === 1;
      const last = runs[runs.length - 1];
      if (last && last.data === data) last.length += stop - at;
      else runs.push({ offset: at, length: stop - at, data });
      at = stop;
    }
    return runs;
  }

  #mark(offset: number, length: number, value: number): void {
    for (let unit = Math.floor(offset / 4096); unit * 4096 < offset + length; unit++) this.allocated[unit] = value;
  }

  #unmapWhole(offset: number, length: number): void {
    for (let unit = Math.ceil(offset / 4096); (unit + 1) * 4096 <= offset + length; unit++) this.allocated[unit] = 0;
  }
}
