import {
  AsyncMutex,
  appendRun,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  FileRuns,
  IoVector,
  ReadOnlyError,
  readSource,
  type WriteOptions,
  writeSource,
  zeroBuffers,
} from '@vdisk/core';
import { DISK_FIXED, SECTOR_SIZE, UNALLOCATED, type VhdFooter } from './footer.js';

/** The largest zero buffer a write shares between its pieces. */
const ZERO_CHUNK = 1024 * 1024;

/** Where a dynamic image keeps its blocks (QEMU's BDRVVPCState). */
export interface DynamicLayout {
  blockSize: number;
  /** The sector bitmap in front of each block: `block_size / 4096` bytes rounded up to a sector. */
  bitmapSize: number;
  /** File offset of the BAT. */
  batOffset: number;
  /** The header's max table entries: how many blocks the BAT describes. */
  batEntries: number;
  /**
   * The BAT, host order. Open has checked that it lies wholly in the file (it ends before
   * QEMU's free_data_block_offset, which must not pass the end of the file), so its size is
   * bounded by the file's, never by a header field alone.
   */
  bat: Uint32Array;
  /** Where the next block goes: the end of the last block, or of the BAT (QEMU's free_data_block_offset). */
  freeDataBlockOffset: number;
}

/** One piece of a request within one block. */
interface BlockPiece {
  index: number;
  within: number;
  length: number;
  /** Where the piece is in the request. */
  at: number;
}

/**
 * An open VHD image. A fixed image is its file (the footer follows the data). A dynamic
 * image maps virtual offsets through the BAT: block `i` is at sector `bat[i]`, its sector
 * bitmap first, then its data. QEMU 7.2 ignores the bitmap when reading (an allocated block
 * is read whole) and so does vdisk.
 */
export class VpcImage implements DriverImage {
  readonly requestAlignment = SECTOR_SIZE;
  readonly virtualSize: number;
  readonly source: ByteSource;
  readonly footer: VhdFooter;
  /**
   * The BAT and blocks, when the footer was found at offset 0 (QEMU's disk_type
   * VHD_DYNAMIC); undefined for an image whose footer is only at its end (fixed).
   */
  readonly dynamic: DynamicLayout | undefined;
  /**
   * Read the file as it is, at the same offsets: QEMU decides this by the footer's disk
   * type (2, fixed), even for a footer found at offset 0 with a dynamic header after it.
   */
  readonly fixed: boolean;
  /** Requests are serialized, as QEMU's vpc driver holds its CoMutex. */
  readonly lock = new AsyncMutex();

  readonly writable: boolean;

  constructor(source: ByteSource, footer: VhdFooter, virtualSize: number, dynamic?: DynamicLayout, writable = false) {
    this.writable = writable;
    this.source = source;
    this.footer = footer;
    this.virtualSize = virtualSize;
    this.dynamic = dynamic;
    this.fixed = footer.diskType === DISK_FIXED || dynamic === undefined;
  }

  /** The BAT entry of block `index`. */
  entry(index: number): number {
    return (this.dynamic as DynamicLayout).bat[index] ?? UNALLOCATED;
  }

  /** File offset of byte `within` of block `index`'s data, or undefined when it is not allocated. */
  dataOffset(index: number, within = 0): number | undefined {
    const layout = this.dynamic as DynamicLayout;
    const sector = this.entry(index);
    if (sector === UNALLOCATED) return undefined;
    return sector * SECTOR_SIZE + layout.bitmapSize + within;
  }

  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    if (this.fixed) {
      // QEMU reads a fixed image straight from the file, at the same offset.
      await readSource(this.source, buffers, offset);
      return;
    }
    const iov = new IoVector(buffers);
    await this.lock.runExclusive(async () => {
      for (const piece of this.pieces(offset, iov.length)) {
        const at = this.dataOffset(piece.index, piece.within);
        if (at === undefined) iov.zero(piece.at, piece.length);
        else await readSource(this.source, iov.slices(piece.at, piece.length), at);
      }
    });
  }

  /**
   * QEMU's vpc_co_block_status: a fixed image is all data at the same offset in the file;
   * in a dynamic image an allocated block is data (contiguous in the file), an unallocated
   * one reads as zeros (QEMU's BDRV_BLOCK_ZERO: `present` in qemu-img map, as the format has
   * no backing file).
   */
  async blockStatus(offset: number, length: number): Promise<BlockStatusRun[]> {
    if (this.fixed) return [{ offset, length, data: true, fileOffset: offset }];
    const runs: BlockStatusRun[] = [];
    await this.lock.runExclusive(async () => {
      for (const piece of this.pieces(offset, length)) {
        const at = this.dataOffset(piece.index, piece.within);
        const run: BlockStatusRun = { offset: offset + piece.at, length: piece.length, data: at !== undefined };
        if (at !== undefined) run.fileOffset = at;
        // QEMU's vpc answers BDRV_BLOCK_ZERO itself for an unallocated block: in the
        // contract's words, this image says the run reads as zeros (no parent is asked).
        else run.allocated = true;
        appendRun(runs, run);
      }
    });
    return runs;
  }

  /** Number of BAT entries that point to a block. */
  allocatedBlocks(): number {
    const layout = this.dynamic;
    if (!layout) return 0;
    let count = 0;
    for (const sector of layout.bat) if (sector !== UNALLOCATED) count++;
    return count;
  }

  /**
   * Writes whole sectors at `offset` (QEMU's vpc_co_pwritev, in a crash-safe order). A fixed
   * image is written in place. In a dynamic image, data for allocated blocks goes to the
   * block; each unallocated block gets the space at QEMU's free_data_block_offset (where the
   * footer was) and is written whole: its bitmap of all ones (as QEMU writes it), the data,
   * zeros elsewhere, then the footer after the last new block, in one pwritev per run. Then
   * one barrier for all the request's new blocks, then their BAT entries. A crash before the
   * BAT entry leaves unreferenced space (the footer copy at offset 0 still opens the image).
   */
  async write(offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    if (this.fixed) {
      await writeSource(this.source, buffers, offset);
      if (options?.fua) await this.flush();
      return;
    }
    const layout = this.dynamic as DynamicLayout;
    const iov = new IoVector(buffers);
    await this.lock.runExclusive(async () => {
      const runs = new FileRuns();
      const fresh: { index: number; sector: number }[] = [];
      const fileEnd = this.source.size;
      const zeros = new Uint8Array(Math.min(ZERO_CHUNK, layout.blockSize));
      // Zeros only where the file already has bytes: past its end a file reads as zeros.
      const zerosAt = (position: number, length: number) => {
        const present = Math.max(0, Math.min(length, fileEnd - position));
        if (present > 0) runs.add(position, zeroBuffers(present, zeros));
      };
      let free = layout.freeDataBlockOffset;
      for (const piece of this.pieces(offset, iov.length)) {
        const at = this.dataOffset(piece.index, piece.within);
        if (at !== undefined) {
          runs.add(at, iov.slices(piece.at, piece.length));
          continue;
        }
        const start = free;
        const data = start + layout.bitmapSize;
        runs.add(start, [new Uint8Array(layout.bitmapSize).fill(0xff)]);
        zerosAt(data, piece.within);
        runs.add(data + piece.within, iov.slices(piece.at, piece.length));
        const tail = data + piece.within + piece.length;
        zerosAt(tail, layout.blockSize - piece.within - piece.length);
        fresh.push({ index: piece.index, sector: start / SECTOR_SIZE });
        free = data + layout.blockSize;
      }
      if (fresh.length > 0) runs.add(free, [this.footer.bytes]);
      await runs.write(this.source);
      if (fresh.length === 0) return;
      // The blocks (and the footer after them) are durable before any BAT entry points to them.
      await this.flush();
      layout.freeDataBlockOffset = free;
      await this.#writeBatEntries(fresh);
    });
    if (options?.fua) await this.flush();
  }

  /**
   * Makes `[offset, offset + length)` read as zeros: unallocated blocks already do, so only
   * allocated ones are written (a BAT entry is never given back, as in QEMU).
   */
  async zero(offset: number, length: number): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK, length));
    if (this.fixed) {
      await writeSource(this.source, zeroBuffers(length, zeros), offset);
      return;
    }
    await this.lock.runExclusive(async () => {
      const runs = new FileRuns();
      for (const piece of this.pieces(offset, length)) {
        const at = this.dataOffset(piece.index, piece.within);
        if (at !== undefined) runs.add(at, zeroBuffers(piece.length, zeros));
      }
      await runs.write(this.source);
    });
  }

  async flush(): Promise<void> {
    await this.source.flush?.();
  }

  async close(): Promise<void> {}

  /** The BAT entries of new blocks, big-endian, consecutive entries in one write; then the in-memory BAT. */
  async #writeBatEntries(fresh: readonly { index: number; sector: number }[]): Promise<void> {
    const layout = this.dynamic as DynamicLayout;
    const runs = new FileRuns();
    for (const { index, sector } of fresh) {
      const entry = new Uint8Array(4);
      new DataView(entry.buffer).setUint32(0, sector);
      runs.add(layout.batOffset + index * 4, [entry]);
    }
    await runs.write(this.source);
    for (const { index, sector } of fresh) layout.bat[index] = sector;
  }

  /** The blocks that `[offset, offset + length)` touches, in order. */
  *pieces(offset: number, length: number): Generator<BlockPiece> {
    const { blockSize } = this.dynamic as DynamicLayout;
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const index = Math.floor(position / blockSize);
      const within = position - index * blockSize;
      const part = Math.min(length - done, blockSize - within);
      yield { index, within, length: part, at: done };
      done += part;
    }
  }
}
