import {
  AsyncMutex,
  appendRun,
  type BlockStatusOptions,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  IoVector,
  readSource,
} from '@vdisk/core';
import { type BochsGeometry, SECTOR_SIZE, slotOffset, UNALLOCATED } from './geometry.js';
import type { BochsHeader } from './header.js';
import { ScatterPlan } from './scatter-plan.js';

/** The bitmap bits that a request needs of one extent. */
interface ExtentBitmap {
  /** File offset of the extent's sector 0. */
  dataOffset: number;
  /** Bitmap bytes covering sectors `firstByte * 8` onwards. */
  bits: Uint8Array;
  firstByte: number;
}

/** Where the bits of one extent of a request landed, and which part of the request it is. */
interface ExtentPart {
  bits: Uint8Array;
  firstByte: number;
  /** The extent's sectors `[firstSector, endSector)` are at `at` in the request. */
  firstSector: number;
  endSector: number;
  at: number;
}

/**
 * The largest bitmap area (bitmap blocks * 512) read whole with the data after it. bximage
 * writes at most 2048 bytes of bitmap (8 MiB extents); a hostile `bitmap` field can claim
 * 4 GiB, and then only the bits needed are read, in their own read.
 */
const INLINE_BITMAP_MAX = 4096;

/**
 * An open Bochs growing image. It only maps: virtual sector → catalog → slot → bitmap bit
 * → file offset (QEMU's seek_to_sector). Bounds and alignment are core's.
 *
 * Unlike QEMU, which reads one bitmap byte and one sector per system call, a request is
 * planned as a few runs of the file: each extent's bitmap and data, and consecutive slots
 * together (bximage writes them in order), each run one scattered read straight into the
 * caller's buffers. Sectors whose bit is clear are zeroed afterwards.
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
    await this.#lock.runExclusive(() => this.#read(offset, iov));
  }

  /**
   * The allocation map from the catalog and the bitmaps. With `wantZero: false` the
   * catalog alone answers: an allocated extent is reported as data (without a file
   * offset, as some of its sectors may be unwritten), and no bitmap is read.
   */
  async blockStatus(offset: number, length: number, options?: BlockStatusOptions): Promise<BlockStatusRun[]> {
    const runs: BlockStatusRun[] = [];
    const precise = options?.wantZero ?? true;
    await this.#lock.runExclusive(async () => {
      for (const { index, within, length: extentLength } of this.#extents(offset, length)) {
        const virtualStart = index * this.geometry.extentSize;
        if (!precise) {
          const data = this.#slotStart(index) !== undefined;
          appendRun(runs, { offset: virtualStart + within, length: extentLength, data });
          continue;
        }
        const bitmap = await this.#extentBitmap(index, within, extentLength);
        // No bit set (an unallocated extent, or a bitmap past the end of the file): one run,
        // not one per sector. A 512-byte file whose catalog reads as zeros maps 8 TiB of
        // such extents; sector by sector that was 2^34 steps.
        if (!bitmap || bitmap.bits.every((byte) => byte === 0)) {
          appendRun(runs, { offset: virtualStart + within, length: extentLength, data: false });
          continue;
        }
        const first = within / SECTOR_SIZE;
        const end = first + extentLength / SECTOR_SIZE;
        let s = first;
        while (s < end) {
          // One run per stretch of equal bits.
          const data = isWritten(bitmap, s);
          const start = s;
          while (s < end && isWritten(bitmap, s) === data) s++;
          const run: BlockStatusRun = {
            offset: virtualStart + start * SECTOR_SIZE,
            length: (s - start) * SECTOR_SIZE,
            data,
          };
          if (data) run.fileOffset = bitmap.dataOffset + start * SECTOR_SIZE;
          appendRun(runs, run);
        }
      }
    });
    return runs;
  }

  async close(): Promise<void> {}

  /** Number of catalog entries that point to a slot. */
  allocatedExtents(): number {
    let count = 0;
    for (const entry of this.catalog) if (entry !== UNALLOCATED) count++;
    return count;
  }

  /**
   * Where extent `index`'s slot starts in the file, or undefined when nothing of it can be
   * read: the extent is unallocated, or its slot starts at or past the end of the file,
   * where its bitmap reads as zeros (as in QEMU), so every sector does. A 512-byte file
   * that claims 8 TiB has a catalog of such entries: they cost no read at all.
   */
  #slotStart(index: number): number | undefined {
    const slot = this.catalog[index] ?? UNALLOCATED;
    if (slot === UNALLOCATED) return undefined;
    const start = slotOffset(this.geometry, slot, index);
    return start >= this.source.size ? undefined : start;
  }

  /**
   * The extents that `[offset, offset + length)` touches, in order: each one's index, where
   * the range starts within it, how much of it the range covers, and where that part is
   * in the request (QEMU's seek_to_sector, per extent instead of per sector).
   */
  *#extents(offset: number, length: number): Generator<{ index: number; within: number; length: number; at: number }> {
    const { extentSize } = this.geometry;
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const index = Math.floor(position / extentSize);
      const within = position - index * extentSize;
      const part = Math.min(length - done, extentSize - within);
      yield { index, within, length: part, at: done };
      done += part;
    }
  }

  /**
   * Reads the bitmap bits of sectors `[within, within + length)` of extent `index`, or
   * returns undefined for an unallocated extent. Only the bytes needed are read, never
   * `bitmap` bytes: a hostile bitmap field can claim 4 GiB.
   */
  async #extentBitmap(index: number, within: number, length: number): Promise<ExtentBitmap | undefined> {
    const bitmapOffset = this.#slotStart(index);
    if (bitmapOffset === undefined) return undefined;
    const firstSector = within / SECTOR_SIZE;
    const endSector = firstSector + length / SECTOR_SIZE;
    const firstByte = firstSector >> 3;
    const bits = new Uint8Array(((endSector + 7) >> 3) - firstByte);
    await this.source.read(bits, bitmapOffset + firstByte);
    return { dataOffset: bitmapOffset + SECTOR_SIZE * this.geometry.bitmapBlocks, bits, firstByte };
  }

  /**
   * Plans the request's reads, runs them, then zeroes what the bitmaps say was never
   * written. Memory: the bits of the extents touched, never more than the request.
   */
  async #read(offset: number, iov: IoVector): Promise<void> {
    const bitmapArea = this.geometry.bitmapBlocks * SECTOR_SIZE;
    const plan = new ScatterPlan();
    const parts: ExtentPart[] = [];
    for (const { index, within, length: part, at } of this.#extents(offset, iov.length)) {
      const bitmapOffset = this.#slotStart(index);
      if (bitmapOffset === undefined) {
        iov.zero(at, part);
        continue;
      }
      const firstSector = within / SECTOR_SIZE;
      const endSector = firstSector + part / SECTOR_SIZE;
      let bits: Uint8Array;
      let firstByte: number;
      if (within === 0 && bitmapArea <= INLINE_BITMAP_MAX && bitmapArea <= part && endSector <= bitmapArea * 8) {
        // The whole bitmap area, then the data right after it: one run with the slot.
        bits = new Uint8Array(bitmapArea);
        firstByte = 0;
        plan.add(bitmapOffset, [bits]);
      } else {
        // Only the bytes needed, as QEMU reads them (past the bitmap area if the bitmap
        // field is too small for the extent).
        firstByte = firstSector >> 3;
        bits = new Uint8Array(((endSector + 7) >> 3) - firstByte);
        plan.add(bitmapOffset + firstByte, [bits]);
      }
      plan.add(bitmapOffset + bitmapArea + within, iov.slices(at, part));
      parts.push({ bits, firstByte, firstSector, endSector, at });
    }
    for (const run of plan.runs) await readSource(this.source, run.buffers, run.position);
    // Never-written sectors read as zeros, whatever their slot holds.
    for (const part of parts) zeroUnwritten(iov, part);
  }
}

/** Zeroes, in the request, the runs of sectors of one extent whose bit is clear. */
function zeroUnwritten(iov: IoVector, { bits, firstByte, firstSector, endSector, at }: ExtentPart): void {
  const byteAt = (s: number) => bits[(s >> 3) - firstByte] ?? 0;
  let s = firstSector;
  while (s < endSector) {
    if ((s & 7) === 0 && s + 8 <= endSector && byteAt(s) === 0xff) {
      s += 8; // eight written sectors at once: the common case
      continue;
    }
    if ((byteAt(s) >> (s & 7)) & 1) {
      s++;
      continue;
    }
    const start = s;
    while (s < endSector && !((byteAt(s) >> (s & 7)) & 1)) {
      s += (s & 7) === 0 && s + 8 <= endSector && byteAt(s) === 0 ? 8 : 1;
    }
    iov.zero(at + (start - firstSector) * SECTOR_SIZE, (s - start) * SECTOR_SIZE);
  }
}

/** Bit `s % 8` of byte `s / 8`, LSB first: set means the sector was written. */
function isWritten(bitmap: ExtentBitmap, sector: number): boolean {
  return (((bitmap.bits[(sector >> 3) - bitmap.firstByte] ?? 0) >> (sector & 7)) & 1) === 1;
}
