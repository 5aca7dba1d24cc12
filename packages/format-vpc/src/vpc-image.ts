import {
  AsyncMutex,
  appendRun,
  type BackingReference,
  type BlockDevice,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  FileRuns,
  ImageFormatError,
  IoVector,
  ReadOnlyError,
  readSource,
  type WriteOptions,
  writeSource,
  zeroBuffers,
} from '@vdisk/core';
import { DISK_FIXED, FOOTER, SECTOR_SIZE, UNALLOCATED, type VhdFooter } from './footer.js';
import { bitmapSpan, bitRuns, setBits } from './sector-bitmap.js';

/** The largest zero buffer a write shares between its pieces. */
const ZERO_CHUNK = 1024 * 1024;
/** How much of a differencing disk one zeroing request writes at a time. */
const ZERO_STEP = 64 * 1024 * 1024;

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
  /**
   * Where the next block goes: the end of the last block, or of the BAT (QEMU's
   * free_data_block_offset), or of a differencing disk's parent locators.
   */
  freeDataBlockOffset: number;
}

/** What a differencing disk (type 4) knows of its parent, from its dynamic header. */
export interface ParentIdentity {
  /** The parent's footer unique id, 16 bytes. */
  uuid: Uint8Array;
  /** The parent's time stamp (seconds since 2000). */
  timestamp: number;
  /** Where the name came from: the locator's platform code, or `name` (the header's unicode name). */
  from: string;
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
 * is read whole) and so does vdisk, except in a differencing disk (type 4), whose bitmap says
 * which sectors are its own and which its parent's (QEMU 7.2 reads the parent's as zeros).
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
  /**
   * A differencing disk's parent (disk type 4), which core opens: a sector whose bitmap bit
   * is clear, and every sector of an unallocated block, reads from it.
   */
  readonly backing?: BackingReference;
  readonly parent?: ParentIdentity;

  constructor(
    source: ByteSource,
    footer: VhdFooter,
    virtualSize: number,
    dynamic?: DynamicLayout,
    writable = false,
    parent?: { reference: BackingReference; identity: ParentIdentity },
  ) {
    this.writable = writable;
    if (parent && dynamic) {
      this.backing = parent.reference;
      this.parent = parent.identity;
    }
    this.source = source;
    this.footer = footer;
    this.virtualSize = virtualSize;
    this.dynamic = dynamic;
    this.fixed = footer.diskType === DISK_FIXED || dynamic === undefined;
  }

  /**
   * A differencing disk is tied to the parent it was made from by the parent's unique id
   * (the VHD specification; Hyper-V and VirtualBox refuse a parent whose id differs, as a
   * parent replaced or rebuilt would show the child's sectors over foreign bytes). An id of
   * all zeros names no particular parent and is not checked.
   */
  async backingOpened(parent: BlockDevice): Promise<void> {
    if (!this.parent) return;
    const image = parent.image;
    if (!(image instanceof VpcImage)) {
      throw new ImageFormatError(`The parent of a differencing VHD must be a VHD image, not ${parent.format}`);
    }
    const expected = this.parent.uuid;
    if (expected.every((byte) => byte === 0)) return;
    const actual = image.footer.bytes.subarray(FOOTER.uuid, FOOTER.uuid + 16);
    if (!actual.every((byte, i) => byte === expected[i])) {
      throw new ImageFormatError(
        `Parent '${this.backing?.filename}' is not the image this differencing VHD was made from: its unique id ${uuidText(actual)} is not ${uuidText(expected)}`,
      );
    }
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
      // Blocks that follow each other in the file (written in order) are one read.
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
   * QEMU's vpc_co_block_status: a fixed image is all data at the same offset in the file;
   * in a dynamic image an allocated block is data (contiguous in the file), an unallocated
   * one reads as zeros (QEMU's BDRV_BLOCK_ZERO: `present` in qemu-img map, as the format has
   * no backing file). In a differencing disk, an allocated block's sectors are data where
   * their bitmap bit is set and not allocated here (read from the parent) where it is clear,
   * as is an unallocated block: the bitmap decides, whatever `wantZero` asks, since a sector
   * reported as data would hide the parent's bytes.
   */
  async blockStatus(offset: number, length: number): Promise<BlockStatusRun[]> {
    if (this.fixed) return [{ offset, length, data: true, fileOffset: offset }];
    const runs: BlockStatusRun[] = [];
    await this.lock.runExclusive(async () => {
      for (const piece of this.pieces(offset, length)) {
        const at = this.dataOffset(piece.index, piece.within);
        const start = offset + piece.at;
        if (at !== undefined && this.parent) {
          await this.#bitmapStatus(runs, piece, start, at);
          continue;
        }
        const run: BlockStatusRun = { offset: start, length: piece.length, data: at !== undefined };
        if (at !== undefined) run.fileOffset = at;
        // QEMU's vpc answers BDRV_BLOCK_ZERO itself for an unallocated block: in the
        // contract's words, this image says the run reads as zeros (no parent is asked).
        // A differencing disk's unallocated block is its parent's.
        else if (!this.parent) run.allocated = true;
        appendRun(runs, run);
      }
    });
    return runs;
  }

  /** The runs of one allocated block of a differencing disk, from the bits of its sector bitmap that the piece covers. */
  async #bitmapStatus(runs: BlockStatusRun[], piece: BlockPiece, start: number, at: number): Promise<void> {
    const first = piece.within / SECTOR_SIZE;
    const count = piece.length / SECTOR_SIZE;
    const { bytes, bit } = await this.#readBitmap(piece.index, first, count);
    for (const run of bitRuns(bytes, bit, count)) {
      const within = (run.start - bit) * SECTOR_SIZE;
      const status: BlockStatusRun = { offset: start + within, length: run.count * SECTOR_SIZE, data: run.set };
      if (run.set) status.fileOffset = at + within;
      appendRun(runs, status);
    }
  }

  /**
   * The bitmap bytes of allocated block `index` that hold sectors `[first, first + count)`,
   * their file position, and the bit (in them) of sector `first`.
   */
  async #readBitmap(
    index: number,
    first: number,
    count: number,
  ): Promise<{ bytes: Uint8Array; bit: number; position: number }> {
    const span = bitmapSpan(first, count);
    const bytes = new Uint8Array(span.length);
    const position = this.entry(index) * SECTOR_SIZE + span.byte;
    await readSource(this.source, [bytes], position);
    return { bytes, bit: first - span.byte * 8, position };
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
   *
   * A differencing disk's new block gets a bitmap with only the written sectors' bits set
   * (the others still read from the parent), written with the data before the barrier: no
   * BAT entry points to the block yet, so nothing reads that bitmap before it is durable. In
   * a block already allocated, the data goes first, then the barrier, then the bits of the
   * sectors that were the parent's: a crash before the bits leaves them the parent's, as
   * they were (the write was not acknowledged), never this image's unwritten bytes.
   */
  async write(offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    if (this.fixed) {
      await writeSource(this.source, buffers, offset);
      if (options?.fua) await this.flush();
      return;
    }
    await this.lock.runExclusive(() => this.#writeBlocks(offset, new IoVector(buffers)));
    if (options?.fua) await this.flush();
  }

  /** The dynamic (and differencing) write path; the lock is held. */
  async #writeBlocks(offset: number, iov: IoVector): Promise<void> {
    const layout = this.dynamic as DynamicLayout;
    const differencing = this.parent !== undefined;
    const runs = new FileRuns();
    const fresh: { index: number; sector: number }[] = [];
    const bitmaps: { position: number; bytes: Uint8Array }[] = [];
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
        if (differencing) {
          const first = piece.within / SECTOR_SIZE;
          const count = piece.length / SECTOR_SIZE;
          const bitmap = await this.#readBitmap(piece.index, first, count);
          if (setBits(bitmap.bytes, bitmap.bit, count)) bitmaps.push(bitmap);
        }
        continue;
      }
      const start = free;
      const data = start + layout.bitmapSize;
      const bitmap = new Uint8Array(layout.bitmapSize);
      if (differencing) setBits(bitmap, piece.within / SECTOR_SIZE, piece.length / SECTOR_SIZE);
      else bitmap.fill(0xff);
      runs.add(start, [bitmap]);
      zerosAt(data, piece.within);
      runs.add(data + piece.within, iov.slices(piece.at, piece.length));
      const tail = data + piece.within + piece.length;
      zerosAt(tail, layout.blockSize - piece.within - piece.length);
      fresh.push({ index: piece.index, sector: start / SECTOR_SIZE });
      free = data + layout.blockSize;
    }
    if (fresh.length > 0) runs.add(free, [this.footer.bytes]);
    await runs.write(this.source);
    if (fresh.length === 0 && bitmaps.length === 0) return;
    // The data (new blocks, and the footer after them) is durable before any BAT entry
    // points to a new block and before any bit says a written sector is this image's.
    await this.flush();
    layout.freeDataBlockOffset = free;
    const metadata = new FileRuns();
    for (const { position, bytes } of bitmaps) metadata.add(position, [bytes]);
    await metadata.write(this.source);
    await this.#writeBatEntries(fresh);
  }

  /**
   * Makes `[offset, offset + length)` read as zeros: unallocated blocks already do, so only
   * allocated ones are written (a BAT entry is never given back, as in QEMU). In a
   * differencing disk a sector that is not this image's reads as the parent's, so zeros are
   * written through the write path, which makes every sector of the range this image's.
   */
  async zero(offset: number, length: number): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    const zeros = new Uint8Array(Math.min(ZERO_CHUNK, length));
    if (this.fixed) {
      await writeSource(this.source, zeroBuffers(length, zeros), offset);
      return;
    }
    if (this.parent) {
      // A piece of the range at a time, so that the request's list of buffers stays bounded.
      const step = Math.max((this.dynamic as DynamicLayout).blockSize, ZERO_STEP);
      for (let done = 0; done < length; ) {
        const position = offset + done;
        const part = Math.min(length - done, step - (position % step));
        await this.lock.runExclusive(() => this.#writeBlocks(position, new IoVector(zeroBuffers(part, zeros))));
        done += part;
      }
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

/** A unique id as its 32 hex digits, in the file's byte order. */
function uuidText(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
}
