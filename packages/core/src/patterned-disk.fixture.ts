// Test-only: a disk whose contents and allocation the tests know independently of core.
import { BlockDevice } from './block-device.js';
import type { BlockDriver, BlockStatusRun, DriverImage } from './driver.js';
import { MemorySource } from './memory-source.js';

export interface PatternedDisk {
  device: BlockDevice;
  /** The disk's bytes, written out by hand from `dataRanges`. */
  expected: Uint8Array;
  /** Every readv the driver received, as [offset, length]. */
  reads: Array<[number, number]>;
}

/** Nonzero bytes, so a data range never reads as zeros. */
export function patternByte(position: number): number {
  return ((position * 7 + 3) % 255) + 1;
}

/**
 * A disk of `size` bytes (a multiple of `alignment`) whose data lies in `dataRanges`
 * (aligned, sorted, not touching) and is zero elsewhere; the driver reports each data
 * range at file offset `1_000_000 + offset`, so data ranges that touch are contiguous.
 */
export function patternedDisk(size: number, dataRanges: Array<[number, number]>, alignment = 512): PatternedDisk {
  const expected = new Uint8Array(size);
  for (const [offset, length] of dataRanges) {
    for (let i = offset; i < offset + length; i++) expected[i] = patternByte(i);
  }
  const reads: Array<[number, number]> = [];
  const image: DriverImage = {
    virtualSize: size,
    requestAlignment: alignment,
    async readv(offset, buffers) {
      let at = offset;
      const total = buffers.reduce((sum, b) => sum + b.length, 0);
      reads.push([offset, total]);
      for (const buffer of buffers) {
        buffer.set(expected.subarray(at, at + buffer.length));
        at += buffer.length;
      }
    },
    async close() {},
  };
  const driver: BlockDriver = {
    name: 'patterned',
    probe: () => 0,
    open: async () => image,
    async blockStatus(_image, offset, length) {
      const runs: BlockStatusRun[] = [];
      let at = offset;
      const end = offset + length;
      for (const [start, len] of dataRanges) {
        const s = Math.max(start, offset);
        const e = Math.min(start + len, end);
        if (s >= e) continue;
        if (s > at) runs.push({ offset: at, length: s - at, data: false });
        runs.push({ offset: s, length: e - s, data: true, fileOffset: 1_000_000 + s });
        at = e;
      }
      if (at < end) runs.push({ offset: at, length: end - at, data: false });
      return runs;
    },
  };
  return { device: new BlockDevice(driver, image, new MemorySource(new Uint8Array(0))), expected, reads };
}
