/**
 * A list of buffers seen as one run of bytes, like QEMU's QEMUIOVector: drivers fill the
 * buffers of a `readv` without caring where one ends and the next begins.
 */
export class IoVector {
  readonly buffers: readonly Uint8Array[];
  readonly length: number;

  constructor(buffers: readonly Uint8Array[]) {
    this.buffers = buffers;
    this.length = buffers.reduce((sum, b) => sum + b.length, 0);
  }

  /** The pieces of the buffers that hold bytes `[offset, offset + length)` of the vector. */
  slices(offset: number, length: number): Uint8Array[] {
    const pieces: Uint8Array[] = [];
    let start = 0;
    const end = offset + length;
    for (const buffer of this.buffers) {
      const stop = start + buffer.length;
      if (stop > offset && start < end) {
        // The whole buffer as it is (the common single-buffer request); a view only of part of one.
        pieces.push(
          start >= offset && stop <= end
            ? buffer
            : buffer.subarray(Math.max(offset, start) - start, Math.min(end, stop) - start),
        );
      }
      if (stop >= end) break;
      start = stop;
    }
    return pieces;
  }

  /** Sets bytes `[offset, offset + length)` to zero. */
  zero(offset: number, length: number): void {
    for (const piece of this.slices(offset, length)) piece.fill(0);
  }
}
