/**
 * The sector bitmap in front of each block of a differencing VHD (VHD specification 1.0,
 * "Block Bitmap"): one bit per sector of the block, the most significant bit of byte 0 for
 * sector 0. A set bit: the sector is in this image; clear: it is read from the parent. A
 * request touches only the bytes of its own sectors, so memory follows the request, never
 * the block size a header claims.
 */

/** The bitmap bytes that hold sectors `[first, first + count)` of a block: their offset in the bitmap and length. */
export function bitmapSpan(first: number, count: number): { byte: number; length: number } {
  const byte = Math.floor(first / 8);
  return { byte, length: Math.ceil((first + count) / 8) - byte };
}

/** Bit `bit` of `bytes` (bit 0 is the top bit of byte 0). */
export function testBit(bytes: Uint8Array, bit: number): boolean {
  return ((bytes[bit >> 3] as number) & (0x80 >> (bit & 7))) !== 0;
}

/** One run of equal bits. */
export interface BitRun {
  set: boolean;
  /** The run's first bit, counted as `start` was. */
  start: number;
  count: number;
}

/** The runs of equal bits in `[start, start + count)` of `bytes`, in order; whole bytes of 0x00 or 0xff at a time. */
export function bitRuns(bytes: Uint8Array, start: number, count: number): BitRun[] {
  const runs: BitRun[] = [];
  const end = start + count;
  let bit = start;
  const push = (set: boolean, length: number) => {
    const last = runs[runs.length - 1];
    if (last && last.set === set) last.count += length;
    else runs.push({ set, start: bit, count: length });
    bit += length;
  };
  while (bit < end) {
    const byte = bytes[bit >> 3] as number;
    if ((bit & 7) === 0 && end - bit >= 8 && (byte === 0 || byte === 0xff)) push(byte === 0xff, 8);
    else push(testBit(bytes, bit), 1);
  }
  return runs;
}

/** Sets bits `[start, start + count)` of `bytes`; true when one of them was clear. */
export function setBits(bytes: Uint8Array, start: number, count: number): boolean {
  let changed = false;
  for (let bit = start; bit < start + count; bit++) {
    const mask = 0x80 >> (bit & 7);
    const index = bit >> 3;
    const byte = bytes[index] as number;
    if ((byte & mask) === 0) {
      bytes[index] = byte | mask;
      changed = true;
    }
  }
  return changed;
}
