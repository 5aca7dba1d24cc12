import {
  AsyncMutex,
  appendRun,
  type BlockStatusOptions,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  FileRuns,
  ImageFormatError,
  IoVector,
  ReadOnlyError,
  readSource,
  writeSource,
} from '@vdisk/core';
import { type BochsGeometry, SECTOR_SIZE, slotOffset, UNALLOCATED } from './geometry.js';
import { GroupBarrier } from './group-barrier.js';
import type { BochsHeader } from './header.js';

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

/** A part of a write request inside one extent, with the slot that holds (or will hold) it. */
interface WritePart {
  index: number;
  /** Byte offset within the extent, and length: whole sectors. */
  within: number;
  length: number;
  /** Where the part's bytes are in the request. */
  at: number;
  slot: number;
}

/**
 * An open Bochs growing image. It only maps: virtual sector → catalog → slot → bitmap bit
 * → file offset (QEMU's seek_to_sector). Bounds and alignment are core's.
 *
 * Unlike QEMU, which reads one bitmap byte and one sector per system call, a request is
 * planned as a few runs of the file: each extent's bitmap and data, and consecutive slots
 * together (bximage writes them in order), each run one scattered read straight into the
 * caller's buffers. Sectors whose bit is clear are zeroed afterwards.
 *
 * Writes follow one rule (README, "Writing"): what makes new data visible (a catalog entry,
 * a set bit) is written only after a barrier that follows the data; what hides data (a
 * cleared bit) is written at once. Reads take no lock, as qcow2 drops its CoMutex around
 * data I/O: they see the in-memory catalog, which changes only once an entry is written.
 */
export class BochsImage implements DriverImage {
  readonly requestAlignment = SECTOR_SIZE;
  readonly virtualSize: number;
  readonly header: BochsHeader;
  readonly geometry: BochsGeometry;
  /** The catalog as written to the file: an entry changes here only after it is written there. */
  readonly catalog: Uint32Array;
  readonly source: ByteSource;
  readonly writable: boolean;
  /**
   * What must not race: reserving slots (the catalog) and the read-modify-write of bitmap
   * bytes, which two requests into one extent share. Data I/O runs outside it.
   */
  readonly #lock = new AsyncMutex();
  /** The barriers of writes in flight together are shared. */
  readonly #barrier: GroupBarrier;
  /** Bochs's extent_next: max(catalog) + 1 at open, then one more per allocation. */
  #nextSlot: number;
  /** Extents whose slot is being written: a second write into one waits, then finds it allocated. */
  readonly #allocating = new Map<number, { settled: Promise<void>; settle: () => void }>();
  /** One bit per extent: every bit of its bitmap is set (see #isFull). At most 128 KiB. */
  readonly #full: Uint8Array;
  /**
   * Counts zeroings begun and ended (odd while one runs, a seqlock's counter): a read that
   * saw a full bitmap marks the extent full only if no zeroing ran while it read, or it
   * could mark full an extent whose bits were just cleared.
   */
  #zeroings = 0;
  /** Why writes are refused, when they are. */
  #writeBlocker: string | undefined;
  /** Zeros to fill new slots with, shared by every writev (read-only). */
  #zeros: Uint8Array | undefined;

  constructor(
    source: ByteSource,
    header: BochsHeader,
    geometry: BochsGeometry,
    catalog: Uint32Array,
    writable = false,
  ) {
    this.source = source;
    this.header = header;
    this.geometry = geometry;
    this.catalog = catalog;
    this.virtualSize = geometry.virtualSize;
    this.writable = writable;
    this.#barrier = new GroupBarrier(
      source.flush ? () => (source.flush as () => Promise<void>).call(source) : undefined,
    );
    let next = 0;
    for (const entry of catalog) if (entry !== UNALLOCATED && entry >= next) next = entry + 1;
    this.#nextSlot = next;
    this.#full = new Uint8Array(Math.ceil(catalog.length / 8));
  }

  /** The slot the next allocation takes (Bochs's extent_next). */
  get nextSlot(): number {
    return this.#nextSlot;
  }

  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    await this.#read(offset, new IoVector(buffers));
  }

  /**
   * Writes whole sectors at `offset`. New extents get consecutive slots, each written whole
   * (bitmap, data, zeros) in one pwritev per run of slots, then a barrier, then their
   * catalog entries; into allocated extents the data goes straight to the slot, and the
   * bits that were clear are set after a barrier. Resolves when every entry and bit is
   * written: a process crash then loses nothing, a power loss nothing a flush covered.
   */
  async write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    this.#assertWritable();
    const iov = new IoVector(buffers);
    const parts = [...this.#extents(offset, iov.length)];
    // Reserve before any other await, so slots follow the order writes were issued in
    // (bximage's convert order, for an ascending copy).
    const { fresh, existing } = await this.#reserve(parts);
    try {
      const [, clear] = await Promise.all([this.#writeNewSlots(fresh, iov), this.#writeInPlace(existing, iov)]);
      if (fresh.length > 0 || clear.length > 0) await this.#barrier.wait();
      await Promise.all([this.#writeCatalogEntries(fresh), this.#setBits(clear)]);
    } finally {
      this.#finishAllocations(fresh);
    }
  }

  /** Makes every completed write durable. Shares the barrier with allocations in flight. */
  flush(): Promise<void> {
    return this.#barrier.wait();
  }

  /**
   * Makes whole sectors read as zeros by clearing their bits, at once (clearing only hides
   * data). Unallocated extents already read as zeros; slots are never given back, as
   * Bochs never does.
   */
  async zero(offset: number, length: number): Promise<void> {
    this.#assertWritable();
    const parts: WritePart[] = [];
    for (const part of this.#extents(offset, length)) {
      // An allocation in flight must land first, or its bits would be set after ours clear them.
      await this.#allocating.get(part.index)?.settled;
      const slot = this.catalog[part.index] ?? UNALLOCATED;
      if (slot !== UNALLOCATED) parts.push({ ...part, slot });
    }
    await this.#lock.runExclusive(async () => {
      this.#zeroings++; // odd while bits are being cleared
      try {
        for (const part of parts) {
          this.#setFull(part.index, false);
          await this.#updateBits(part, false);
        }
      } finally {
        this.#zeroings++;
      }
    });
  }

  async close(): Promise<void> {}

  /** Makes every later write fail with `reason` (see write-guard.ts): the image is not safe to write. */
  refuseWrites(reason: string): void {
    this.#writeBlocker = reason;
  }

  #assertWritable(): void {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    if (this.#writeBlocker !== undefined) {
      throw new ImageFormatError(`Image cannot be written safely: ${this.#writeBlocker} (see vdisk check)`);
    }
  }

  /**
   * Sorts the parts into extents that have a slot and extents that get one now, reserving
   * consecutive slots for the latter under the lock. A part whose extent is being
   * allocated by another request waits for it and is sorted again.
   */
  async #reserve(parts: readonly Omit<WritePart, 'slot'>[]): Promise<{ fresh: WritePart[]; existing: WritePart[] }> {
    const fresh: WritePart[] = [];
    const existing: WritePart[] = [];
    let todo = parts;
    try {
      while (todo.length > 0) {
        const waiting: Array<Omit<WritePart, 'slot'>> = [];
        const waits: Promise<void>[] = [];
        await this.#lock.runExclusive(() => {
          for (const part of todo) {
            const slot = this.catalog[part.index] ?? UNALLOCATED;
            const allocation = this.#allocating.get(part.index);
            if (slot !== UNALLOCATED) {
              existing.push({ ...part, slot });
            } else if (allocation) {
              waiting.push(part);
              waits.push(allocation.settled);
            } else {
              // Checked first: a slot whose offset a number cannot hold fails the write, not a later read.
              slotOffset(this.geometry, this.#nextSlot, part.index);
              let settle = () => {};
              const settled = new Promise<void>((resolve) => {
                settle = resolve;
              });
              this.#allocating.set(part.index, { settled, settle });
              fresh.push({ ...part, slot: this.#nextSlot++ });
            }
          }
        });
        await Promise.all(waits);
        todo = waiting;
      }
    } catch (error) {
      this.#finishAllocations(fresh);
      throw error;
    }
    return { fresh, existing };
  }

  /** Lets the requests waiting on these allocations go on (they find the catalog entry, or allocate again after a failure). */
  #finishAllocations(fresh: readonly WritePart[]): void {
    for (const { index } of fresh) {
      this.#allocating.get(index)?.settle();
      this.#allocating.delete(index);
    }
  }

  /** Each new slot whole: its bitmap with the written sectors' bits, the data, zeros elsewhere; consecutive slots in one pwritev. */
  async #writeNewSlots(fresh: readonly WritePart[], iov: IoVector): Promise<void> {
    const { bitmapBlocks, extentBlocks } = this.geometry;
    const bitmapArea = bitmapBlocks * SECTOR_SIZE;
    const extentArea = extentBlocks * SECTOR_SIZE;
    const zeros = this.#zeroBuffer();
    const plan = new FileRuns();
    for (const part of fresh) {
      const position = slotOffset(this.geometry, part.slot, part.index);
      const bitmap = new Uint8Array(bitmapArea);
      const first = part.within / SECTOR_SIZE;
      setBits(bitmap, first, first + part.length / SECTOR_SIZE, true);
      const buffers = [bitmap, zeros.subarray(0, part.within), ...iov.slices(part.at, part.length)];
      buffers.push(zeros.subarray(0, extentArea - part.within - part.length));
      plan.add(position, buffers);
    }
    for (const run of plan.runs) await writeSource(this.source, run.buffers, run.position);
  }

  /**
   * The data of allocated extents, straight to their slots, and their bits read meanwhile:
   * returns the parts with a sector whose bit was clear, which need the bit set after a barrier.
   */
  async #writeInPlace(existing: readonly WritePart[], iov: IoVector): Promise<WritePart[]> {
    const clear: WritePart[] = [];
    const bitmapArea = this.geometry.bitmapBlocks * SECTOR_SIZE;
    await Promise.all(
      existing.map(async (part) => {
        const start = slotOffset(this.geometry, part.slot, part.index);
        const data = writeSource(this.source, iov.slices(part.at, part.length), start + bitmapArea + part.within);
        if (this.#isFull(part.index)) {
          await data; // every bit is set already: the common overwrite is one pwrite
          return;
        }
        const [written] = await Promise.all([this.#learnBits(start, part), data]);
        if (!written) clear.push(part);
      }),
    );
    return clear;
  }

  /**
   * Reads the whole bitmap of a part's extent (at most 2048 bytes), under the lock so that
   * no zeroing of the extent runs meanwhile, and remembers an extent whose every bit is set.
   * Returns whether every sector of the part was written already.
   */
  #learnBits(slotStart: number, part: WritePart): Promise<boolean> {
    return this.#lock.runExclusive(async () => {
      const sectors = this.geometry.extentSize / SECTOR_SIZE;
      const bytes = new Uint8Array(Math.ceil(sectors / 8));
      await this.source.read(bytes, slotStart);
      if (allBits(bytes, 0, sectors)) this.#setFull(part.index, true);
      const first = part.within / SECTOR_SIZE;
      return allBits(bytes, first, first + part.length / SECTOR_SIZE);
    });
  }

  /** Extents known to have every bit set (bit `index % 8` of byte `index / 8`), so an overwrite reads no bitmap. */
  #isFull(index: number): boolean {
    return (((this.#full[index >> 3] ?? 0) >> (index & 7)) & 1) === 1;
  }

  #setFull(index: number, full: boolean): void {
    const mask = 1 << (index & 7);
    const byte = this.#full[index >> 3] ?? 0;
    this.#full[index >> 3] = full ? byte | mask : byte & ~mask;
  }

  /** The catalog entries of new slots, consecutive entries in one write; then the in-memory catalog. */
  async #writeCatalogEntries(fresh: readonly WritePart[]): Promise<void> {
    let k = 0;
    while (k < fresh.length) {
      let end = k + 1;
      while (end < fresh.length && (fresh[end] as WritePart).index === (fresh[end - 1] as WritePart).index + 1) end++;
      const run = fresh.slice(k, end);
      const bytes = new Uint8Array(4 * run.length);
      const view = new DataView(bytes.buffer);
      for (const [i, part] of run.entries()) view.setUint32(4 * i, part.slot, true);
      await writeSource(this.source, [bytes], this.header.headerSize + 4 * (run[0] as WritePart).index);
      for (const part of run) {
        this.catalog[part.index] = part.slot;
        if (part.within === 0 && part.length === this.geometry.extentSize) this.#setFull(part.index, true);
      }
      k = end;
    }
  }

  /** Sets the bits of these parts, under the lock: another request may be changing other bits of the same bytes. */
  async #setBits(parts: readonly WritePart[]): Promise<void> {
    if (parts.length === 0) return;
    await this.#lock.runExclusive(async () => {
      for (const part of parts) await this.#updateBits(part, true);
    });
  }

  /** Read-modify-write of the bitmap bytes covering a part; only the bytes that change are written. Hold the lock. */
  async #updateBits(part: WritePart, value: boolean): Promise<void> {
    const start = slotOffset(this.geometry, part.slot, part.index);
    const bits = await this.#readBits(start, part);
    const before = bits.bytes.slice();
    const first = part.within / SECTOR_SIZE - bits.firstByte * 8;
    setBits(bits.bytes, first, first + part.length / SECTOR_SIZE, value);
    let from = 0;
    while (from < before.length && before[from] === bits.bytes[from]) from++;
    let to = before.length;
    while (to > from && before[to - 1] === bits.bytes[to - 1]) to--;
    if (from < to) await writeSource(this.source, [bits.bytes.subarray(from, to)], start + bits.firstByte + from);
  }

  /** The bitmap bytes that cover a part's sectors. */
  async #readBits(slotStart: number, part: WritePart): Promise<{ bytes: Uint8Array; firstByte: number }> {
    const firstSector = part.within / SECTOR_SIZE;
    const endSector = firstSector + part.length / SECTOR_SIZE;
    const firstByte = firstSector >> 3;
    const bytes = new Uint8Array(((endSector + 7) >> 3) - firstByte);
    await this.source.read(bytes, slotStart + firstByte);
    return { bytes, firstByte };
  }

  #zeroBuffer(): Uint8Array {
    this.#zeros ??= new Uint8Array(this.geometry.extentBlocks * SECTOR_SIZE);
    return this.#zeros;
  }

  /**
   * The allocation map from the catalog and the bitmaps. With `wantZero: false` the
   * catalog alone answers: an allocated extent is reported as data (without a file
   * offset, as some of its sectors may be unwritten), and no bitmap is read.
   */
  async blockStatus(offset: number, length: number, options?: BlockStatusOptions): Promise<BlockStatusRun[]> {
    const runs: BlockStatusRun[] = [];
    const precise = options?.wantZero ?? true;
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
    return runs;
  }

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
    const extentSectors = this.geometry.extentSize / SECTOR_SIZE;
    // A whole bitmap read now may show an extent full (unless a zeroing ran meanwhile).
    const zeroings = this.#zeroings;
    const plan = new FileRuns();
    const parts: ExtentPart[] = [];
    const learning: Array<{ index: number; bits: Uint8Array }> = [];
    for (const { index, within, length: part, at } of this.#extents(offset, iov.length)) {
      const bitmapOffset = this.#slotStart(index);
      if (bitmapOffset === undefined) {
        iov.zero(at, part);
        continue;
      }
      const data = bitmapOffset + bitmapArea + within;
      if (this.#isFull(index)) {
        // Every bit is set: the data alone, one read (the common random read).
        plan.add(data, iov.slices(at, part));
        continue;
      }
      const firstSector = within / SECTOR_SIZE;
      const endSector = firstSector + part / SECTOR_SIZE;
      let bits: Uint8Array;
      let firstByte: number;
      if (bitmapArea <= INLINE_BITMAP_MAX && bitmapArea <= part && extentSectors <= bitmapArea * 8) {
        // The whole bitmap area (with the data right after it when the part starts the
        // extent): one read as for the bytes needed, never larger than the request, and it
        // shows whether the extent is full.
        bits = new Uint8Array(bitmapArea);
        firstByte = 0;
        plan.add(bitmapOffset, [bits]);
        learning.push({ index, bits });
      } else {
        // Only the bytes needed, as QEMU reads them (past the bitmap area if the bitmap
        // field is too small for the extent): a hostile bitmap field can claim 4 GiB.
        firstByte = firstSector >> 3;
        bits = new Uint8Array(((endSector + 7) >> 3) - firstByte);
        plan.add(bitmapOffset + firstByte, [bits]);
      }
      plan.add(data, iov.slices(at, part));
      parts.push({ bits, firstByte, firstSector, endSector, at });
    }
    await Promise.all(plan.runs.map((run) => readSource(this.source, run.buffers, run.position)));
    // Never-written sectors read as zeros, whatever their slot holds.
    for (const part of parts) zeroUnwritten(iov, part);
    if (this.#zeroings === zeroings && zeroings % 2 === 0) {
      for (const { index, bits } of learning) if (allBits(bits, 0, extentSectors)) this.#setFull(index, true);
    }
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

/** Sets (or clears) the bits of sectors `[first, end)` in `bytes`, LSB first. */
function setBits(bytes: Uint8Array, first: number, end: number, value: boolean): void {
  let s = first;
  while (s < end) {
    if ((s & 7) === 0 && s + 8 <= end) {
      bytes[s >> 3] = value ? 0xff : 0;
      s += 8;
      continue;
    }
    const mask = 1 << (s & 7);
    bytes[s >> 3] = value ? (bytes[s >> 3] as number) | mask : (bytes[s >> 3] as number) & ~mask;
    s++;
  }
}

/** Whether every bit of sectors `[first, end)` is set. */
function allBits(bytes: Uint8Array, first: number, end: number): boolean {
  for (let s = first; s < end; s++) if ((((bytes[s >> 3] ?? 0) >> (s & 7)) & 1) === 0) return false;
  return true;
}
