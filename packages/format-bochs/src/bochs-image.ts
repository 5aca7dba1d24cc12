import { AsyncMutex, appendRun, type BlockStatusRun, type ByteSource, type DriverImage, IoVector } from '@vdisk/core';
import { type BochsGeometry, SECTOR_SIZE, slotOffset, UNALLOCATED } from './geometry.js';
import type { BochsHeader } from './header.js';

/** The bitmap bits that a request needs of one extent. */
interface ExtentBitmap {
  /** File offset of the extent's sector 0. */
  dataOffset: number;
  /** Bitmap bytes covering sectors `firstByte * 8` onwards. */
  bits: Uint8Array;
  firstByte: number;
}

/**
 * An open Bochs growing image. It only maps: virtual sector → catalog → slot → bitmap bit
 * → file offset (QEMU's seek_to_sector). Bounds and alignment are core's.
 *
 * Unlike QEMU, which reads one bitmap byte and one sector per system call, a request costs
 * per extent one read of the bitmap bits it needs and one read of the run of sectors from
 * the first written to the last written; unwritten sectors inside the run are zeroed.
 */
export class BochsImage implements DriverImage {
  readonly requestAlignment = SECTOR_SIZE;
  readonly virtualSize: number;
  readonly header: BochsHeader;
  readonly geometry: BochsGeometry;
  readonly catalog: Uint32Array;
  readonly source: ByteSource;
  /** Requests are serialized, as bochs_co_preadv holds its CoMutex. */
  readonly #lock = new AsyncMutex();

  constructor(source: ByteSource, header: BochsHeader, geometry: BochsGeometry, catalog: Uint32Array) {
    this.source = source;
    this.header = header;
    this.geometry = geometry;
    this.catalog = catalog;
    this.virtualSize = geometry.virtualSize;
  }

  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const iov = new IoVector(buffers);
    await this.#lock.runExclusive(() =>
      this.#forEachExtent(offset, iov.length, (index, within, length, at) =>
        this.#readExtent(index, within, length, iov, at),
      ),
    );
  }

  /** The allocation map from the catalog and the bitmaps. */
  async blockStatus(offset: number, length: number): Promise<BlockStatusRun[]> {
    const runs: BlockStatusRun[] = [];
    await this.#lock.runExclusive(() =>
      this.#forEachExtent(offset, length, async (index, within, extentLength) => {
        const virtualStart = index * this.geometry.extentSize;
        const bitmap = await this.#extentBitmap(index, within, extentLength);
        // No bit set (an unallocated extent, or a bitmap past the end of the file): one run,
        // not one per sector. A 512-byte file whose catalog reads as zeros maps 8 TiB of
        // such extents; sector by sector that was 2^34 steps.
        if (!bitmap || bitmap.bits.every((byte) => byte === 0)) {
          appendRun(runs, { offset: virtualStart + within, length: extentLength, data: false });
          return;
        }
        const first = within / SECTOR_SIZE;
        const end = first + extentLength / SECTOR_SIZE;
        for (let s = first; s < end; s++) {
          const data = isWritten(bitmap, s);
          const run: BlockStatusRun = { offset: virtualStart + s * SECTOR_SIZE, length: SECTOR_SIZE, data };
          if (data) run.fileOffset = bitmap.dataOffset + s * SECTOR_SIZE;
          appendRun(runs, run);
        }
      }),
    );
    return runs;
  }

  async close(): Promise<void> {}

  /** Number of catalog entries that point to a slot. */
  allocatedExtents(): number {
    let count = 0;
    for (const entry of this.catalog) if (entry !== UNALLOCATED) count++;
    return count;
  }

  /** Calls `fn` for each extent that `[offset, offset + length)` touches, in order. */
  async #forEachExtent(
    offset: number,
    length: number,
    fn: (index: number, within: number, length: number, at: number) => Promise<void>,
  ): Promise<void> {
    const { extentSize } = this.geometry;
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const index = Math.floor(position / extentSize);
      const within = position - index * extentSize;
      const part = Math.min(length - done, extentSize - within);
      await fn(index, within, part, done);
      done += part;
    }
  }

  /**
   * Reads the bitmap bits of sectors `[within, within + length)` of extent `index`, or
   * returns undefined for an unallocated extent. Only the bytes needed are read, never
   * `bitmap` bytes: a hostile bitmap field can claim 4 GiB.
   */
  async #extentBitmap(index: number, within: number, length: number): Promise<ExtentBitmap | undefined> {
    const slot = this.catalog[index] ?? UNALLOCATED;
    if (slot === UNALLOCATED) return undefined;
    const bitmapOffset = slotOffset(this.geometry, slot, index);
    const firstSector = within / SECTOR_SIZE;
    const endSector = firstSector + length / SECTOR_SIZE;
    const firstByte = firstSector >> 3;
    const bits = new Uint8Array(((endSector + 7) >> 3) - firstByte);
    await this.source.read(bits, bitmapOffset + firstByte);
    return { dataOffset: bitmapOffset + SECTOR_SIZE * this.geometry.bitmapBlocks, bits, firstByte };
  }

  async #readExtent(index: number, within: number, length: number, iov: IoVector, at: number): Promise<void> {
    const bitmap = await this.#extentBitmap(index, within, length);
    const first = within / SECTOR_SIZE;
    const end = first + length / SECTOR_SIZE;
    let firstWritten = -1;
    let lastWritten = -1;
    if (bitmap) {
      for (let s = first; s < end; s++) {
        if (isWritten(bitmap, s)) {
          if (firstWritten < 0) firstWritten = s;
          lastWritten = s;
        }
      }
    }
    if (!bitmap || firstWritten < 0) {
      iov.zero(at, length);
      return;
    }
    const sectorAt = (s: number) => at + (s - first) * SECTOR_SIZE;
    // One read from the first written sector to the last, however the buffers split it.
    let filePosition = bitmap.dataOffset + firstWritten * SECTOR_SIZE;
    for (const piece of iov.slices(sectorAt(firstWritten), (lastWritten + 1 - firstWritten) * SECTOR_SIZE)) {
      await this.source.read(piece, filePosition);
      filePosition += piece.length;
    }
    // Never-written sectors read as zeros, whatever their slot holds.
    iov.zero(at, sectorAt(firstWritten) - at);
    for (let s = firstWritten + 1; s < lastWritten; s++) {
      if (!isWritten(bitmap, s)) iov.zero(sectorAt(s), SECTOR_SIZE);
    }
    iov.zero(sectorAt(lastWritten + 1), sectorAt(end) - sectorAt(lastWritten + 1));
  }
}

/** Bit `s % 8` of byte `s / 8`, LSB first: set means the sector was written. */
function isWritten(bitmap: ExtentBitmap, sector: number): boolean {
  return (((bitmap.bits[(sector >> 3) - bitmap.firstByte] ?? 0) >> (sector & 7)) & 1) === 1;
}
