import {
  AsyncMutex,
  appendRun,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  FileRuns,
  IoVector,
  ReadOnlyError,
  type WriteOptions,
  zeroBuffers,
} from '@vdisk/core';
import { DISCARDED, FIELD, SECTOR_SIZE, TYPE_STATIC, type VdiHeader } from './header.js';

/** One piece of a request within one block. */
interface BlockPiece {
  index: number;
  within: number;
  length: number;
  /** Where the piece is in the request. */
  at: number;
}

/**
 * An open VDI image: virtual block `i` is data block `bmap[i]`, at `offset_data + bmap[i] *
 * block_size` (QEMU's vdi_co_preadv). Entries of 0xfffffffe (discarded) and 0xffffffff
 * (unallocated) read as zeros.
 */
export class VdiImage implements DriverImage {
  readonly requestAlignment = SECTOR_SIZE;
  readonly virtualSize: number;
  readonly source: ByteSource;
  readonly header: VdiHeader;
  /**
   * The block map entries that lie in the file. QEMU reads the whole map, and what lies past
   * the end of the file reads as zeros, that is entries of 0 (block 0): those are not held,
   * so that a small file that claims a 2 GiB map costs no more than the file.
   */
  readonly bmap: Uint32Array;
  /** Requests are serialized (QEMU's bmap_lock, taken for reads too). */
  readonly lock = new AsyncMutex();

  readonly writable: boolean;

  constructor(source: ByteSource, header: VdiHeader, bmap: Uint32Array, writable = false) {
    this.writable = writable;
    this.source = source;
    this.header = header;
    this.bmap = bmap;
    this.virtualSize = header.diskSize;
  }

  /** Block `index`'s entry: 0 past the end of the file, as QEMU reads it. */
  entry(index: number): number {
    return index < this.bmap.length ? (this.bmap[index] as number) : 0;
  }

  /** File offset of byte `within` of block `index`, or undefined when it reads as zeros. */
  dataOffset(index: number, within = 0): number | undefined {
    const entry = this.entry(index);
    if (entry >= DISCARDED) return undefined;
    return this.header.offsetData + entry * this.header.blockSize + within;
  }

  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const iov = new IoVector(buffers);
    await this.lock.runExclusive(async () => {
      // Consecutive blocks that lie one after the other in the file (a static image, or a
      // dynamic one written in order) are one read.
      const runs = new FileRuns();
      for (const piece of this.pieces(offset, iov.length)) {
        const at = this.dataOffset(piece.index, piece.within);
        if (at === undefined) iov.zero(piece.at, piece.length);
        else runs.add(at, iov.slices(piece.at, piece.length));
      }
      await runs.read(this.source);
    });
  }

  /**
   * QEMU's vdi_co_block_status: an allocated block is data at its file offset; an
   * unallocated or discarded one reads as zeros (BDRV_BLOCK_ZERO, so `present` in qemu-img
   * map: VDI has no backing file).
   */
  async blockStatus(offset: number, length: number): Promise<BlockStatusRun[]> {
    const runs: BlockStatusRun[] = [];
    await this.lock.runExclusive(async () => {
      for (const piece of this.pieces(offset, length)) {
        const at = this.dataOffset(piece.index, piece.within);
        const run: BlockStatusRun = { offset: offset + piece.at, length: piece.length, data: at !== undefined };
        if (at !== undefined) run.fileOffset = at;
        // QEMU's vdi answers BDRV_BLOCK_ZERO itself for unallocated and discarded blocks:
        // in the contract's words, this image says the run reads as zeros.
        else run.allocated = true;
        appendRun(runs, run);
      }
    });
    return runs;
  }

  /**
   * Writes whole sectors at `offset` (QEMU's vdi_co_pwritev, in a crash-safe order). Data
   * for allocated blocks goes to the block. Each unallocated (or discarded) block becomes
   * data block `blocks_allocated` at the end, written whole (zero padded, as QEMU does); the
   * header with the new count goes with the data, then one barrier for all the request's new
   * blocks, then their block map entries. A crash before the map entries leaves only counted,
   * unreferenced blocks (a leak for `check`); never an entry that points to unwritten data,
   * nor a count that lets a later block reuse one in use.
   */
  async write(offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    const iov = new IoVector(buffers);
    const { blockSize, offsetData, offsetBmap } = this.header;
    await this.lock.runExclusive(async () => {
      const runs = new FileRuns();
      const fresh: { index: number; entry: number }[] = [];
      const fileEnd = this.source.size;
      const zeros = new Uint8Array(blockSize);
      const zerosAt = (position: number, length: number) => {
        // Past the end of the file it reads as zeros already.
        const present = Math.max(0, Math.min(length, fileEnd - position));
        if (present > 0) runs.add(position, zeroBuffers(present, zeros));
      };
      let next = this.header.blocksAllocated;
      for (const piece of this.pieces(offset, iov.length)) {
        const at = this.dataOffset(piece.index, piece.within);
        if (at !== undefined) {
          runs.add(at, iov.slices(piece.at, piece.length));
          continue;
        }
        const start = offsetData + next * blockSize;
        zerosAt(start, piece.within);
        runs.add(start + piece.within, iov.slices(piece.at, piece.length));
        const tail = start + piece.within + piece.length;
        if (tail < start + blockSize) {
          // The block's last bytes are written even past the end, so the file holds it whole.
          const rest = start + blockSize - tail;
          const present = Math.max(0, Math.min(rest, fileEnd - tail));
          if (present > 0) runs.add(tail, zeroBuffers(present, zeros));
          if (present < rest) runs.add(start + blockSize - SECTOR_SIZE, [zeros.subarray(0, SECTOR_SIZE)]);
        }
        fresh.push({ index: piece.index, entry: next });
        next++;
      }
      if (fresh.length > 0) {
        const header = this.header.bytes.slice();
        new DataView(header.buffer).setUint32(FIELD.blocksAllocated, next, true);
        runs.add(0, [header]);
      }
      await runs.write(this.source);
      if (fresh.length === 0) return;
      this.header.blocksAllocated = next;
      new DataView(this.header.bytes.buffer).setUint32(FIELD.blocksAllocated, next, true);
      await this.flush();
      const entries = new FileRuns();
      for (const { index, entry } of fresh) {
        const bytes = new Uint8Array(4);
        new DataView(bytes.buffer).setUint32(0, entry, true);
        entries.add(offsetBmap + index * 4, [bytes]);
      }
      await entries.write(this.source);
      for (const { index, entry } of fresh) this.bmap[index] = entry;
    });
    if (options?.fua) await this.flush();
  }

  /** Makes `[offset, offset + length)` read as zeros: only allocated blocks need writing. */
  async zero(offset: number, length: number): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    const zeros = new Uint8Array(Math.min(length, this.header.blockSize));
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

  get isStatic(): boolean {
    return this.header.imageType === TYPE_STATIC;
  }

  async close(): Promise<void> {}

  /** The blocks that `[offset, offset + length)` touches, in order. */
  *pieces(offset: number, length: number): Generator<BlockPiece> {
    const { blockSize } = this.header;
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
