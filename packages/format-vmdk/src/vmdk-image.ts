import {
  AsyncMutex,
  appendRun,
  type BackingReference,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  FileRuns,
  IoVector,
  ReadOnlyError,
  VdiskError,
  type WriteOptions,
  zeroBuffers,
} from '@vdisk/core';
import { SECTOR_SIZE, type SparseHeader, ZEROED_GRAIN } from './header.js';

/** A grain table entry to write: directory entry `gdIndex`, table entry `gtIndex`. */
interface TableUpdate {
  gdIndex: number;
  gtIndex: number;
  value: number;
}

/** QEMU's L2_CACHE_SIZE: grain tables kept in memory. */
const GT_CACHE_SIZE = 16;

/** What a grain of the virtual disk is (QEMU's get_cluster_offset results). */
export type GrainState =
  | { kind: 'data'; fileOffset: number }
  | { kind: 'zeroed' }
  | { kind: 'unallocated' }
  /** Beyond the grain directory (only a header with a truncated 32-bit directory size has this). */
  | { kind: 'error' };

/** One piece of a request within one grain. */
interface GrainPiece {
  /** The grain's first virtual sector. */
  sector: number;
  within: number;
  length: number;
  /** Where the piece is in the request. */
  at: number;
}

/**
 * An open monolithicSparse VMDK: virtual sector → grain directory entry (the sector of a
 * grain table) → grain table entry (the sector of the grain) → file offset. A directory
 * entry of 0 is an unallocated table; a grain entry of 0 an unallocated grain, of 1 (with
 * the zeroed-grain flag) a grain that reads as zeros.
 */
export class VmdkImage implements DriverImage {
  readonly requestAlignment = SECTOR_SIZE;
  readonly virtualSize: number;
  readonly source: ByteSource;
  readonly header: SparseHeader;
  /**
   * The grain directory entries that lie in the file. Past the end of the file QEMU reads
   * zeros (unallocated tables); those are not held, so a hostile directory size (up to 32 Mi
   * entries) costs no more than the file.
   */
  readonly gd: Uint32Array;
  /** The redundant directory, when the header has one (QEMU's l1_backup_table), same bound. */
  readonly rgd: Uint32Array | undefined;
  readonly cid: number;
  readonly parentCid: number;
  /** Grain tables by sector, least recently used first (QEMU keeps 16). */
  readonly #gtCache = new Map<number, Uint32Array>();
  /** Requests are serialized, as QEMU's vmdk driver holds its CoMutex. */
  readonly lock = new AsyncMutex();

  readonly writable: boolean;
  /** The parent the descriptor names (`parentFileNameHint`), as a VMDK; core opens it. */
  backing?: BackingReference;
  /** Where the next grain goes, in sectors: the end of the file rounded up to a grain (QEMU's next_cluster_sector). */
  #nextGrain: number;

  constructor(
    source: ByteSource,
    header: SparseHeader,
    tables: { gd: Uint32Array; rgd?: Uint32Array },
    ids: { cid: number; parentCid: number },
    writable = false,
  ) {
    this.writable = writable;
    const sectors = Math.ceil(source.size / SECTOR_SIZE);
    this.#nextGrain = Math.ceil(sectors / header.granularity) * header.granularity;
    this.source = source;
    this.header = header;
    this.gd = tables.gd;
    this.rgd = tables.rgd;
    this.cid = ids.cid;
    this.parentCid = ids.parentCid;
    this.virtualSize = header.capacity * SECTOR_SIZE;
  }

  get grainSize(): number {
    return this.header.granularity * SECTOR_SIZE;
  }

  /** Directory entry `index`: 0 past the end of the file. */
  gdEntry(index: number): number {
    return this.gd[index] ?? 0;
  }

  /** The grain table at `sector` (zeros past the end of the file), through the cache. */
  async grainTable(sector: number): Promise<Uint32Array> {
    const cached = this.#gtCache.get(sector);
    if (cached) {
      this.#gtCache.delete(sector);
      this.#gtCache.set(sector, cached);
      return cached;
    }
    const table = await readEntries(this.source, sector * SECTOR_SIZE, this.header.gtesPerGt);
    this.#gtCache.set(sector, table);
    if (this.#gtCache.size > GT_CACHE_SIZE) this.#gtCache.delete(this.#gtCache.keys().next().value as number);
    return table;
  }

  /** QEMU's get_cluster_offset (reading): what the grain holding virtual `sector` is. */
  async grainState(sector: number): Promise<GrainState> {
    const { sectorsPerGt, gdEntries, granularity, gtesPerGt, zeroedGrains } = this.header;
    const gdIndex = Math.floor(sector / sectorsPerGt);
    if (gdIndex >= gdEntries) return { kind: 'error' };
    const gtSector = this.gdEntry(gdIndex);
    if (gtSector === 0) return { kind: 'unallocated' };
    const table = await this.grainTable(gtSector);
    const grain = table[Math.floor(sector / granularity) % gtesPerGt] ?? 0;
    if (zeroedGrains && grain === ZEROED_GRAIN) return { kind: 'zeroed' };
    if (grain === 0) return { kind: 'unallocated' };
    return { kind: 'data', fileOffset: grain * SECTOR_SIZE };
  }

  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const iov = new IoVector(buffers);
    await this.lock.runExclusive(async () => {
      // Grains that follow each other in the file (qemu-img and bximage write them in order)
      // are one read.
      const runs = new FileRuns();
      for (const piece of this.pieces(offset, iov.length)) {
        const state = await this.grainState(piece.sector);
        // Unallocated, zeroed, and (as in QEMU's vmdk_co_preadv) beyond the directory: zeros.
        if (state.kind !== 'data') iov.zero(piece.at, piece.length);
        else runs.add(state.fileOffset + piece.within, iov.slices(piece.at, piece.length));
      }
      await runs.read(this.source);
    });
  }

  /**
   * QEMU's vmdk_co_block_status: a grain is data at its file offset, a zeroed grain is
   * allocated and reads as zeros (BDRV_BLOCK_ZERO), an unallocated one is not allocated
   * (`present: false` in qemu-img map: a VMDK may have a parent).
   */
  async blockStatus(offset: number, length: number): Promise<BlockStatusRun[]> {
    const runs: BlockStatusRun[] = [];
    await this.lock.runExclusive(async () => {
      for (const piece of this.pieces(offset, length)) {
        const state = await this.grainState(piece.sector);
        const run: BlockStatusRun = { offset: offset + piece.at, length: piece.length, data: state.kind === 'data' };
        if (state.kind === 'error') {
          throw new VdiskError('EIO', `Sector ${piece.sector} is beyond the grain directory`);
        }
        if (state.kind === 'data') run.fileOffset = state.fileOffset + piece.within;
        if (state.kind === 'zeroed') run.allocated = true;
        appendRun(runs, run);
      }
    });
    return runs;
  }

  /**
   * Writes whole sectors at `offset` (QEMU's vmdk_pwritev, in a crash-safe order). Data for
   * allocated grains goes to the grain. An unallocated or zeroed grain gets a new grain at
   * the end of the file, written whole (the data, zeros elsewhere), then one barrier for all
   * the request's new grains, then their entries in the grain table and in the redundant
   * one (Bochs reads that one). A crash before the entries leaves unreferenced grains only.
   * Like QEMU, a grain whose table is not allocated cannot be written (every image
   * qemu-img, bximage and vdisk create has all its tables).
   */
  async write(offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    const iov = new IoVector(buffers);
    const grainSize = this.grainSize;
    await this.lock.runExclusive(async () => {
      const runs = new FileRuns();
      const updates: TableUpdate[] = [];
      const fileEnd = this.source.size;
      const zeros = new Uint8Array(Math.min(grainSize, 1024 * 1024));
      let next = this.#nextGrain;
      for (const piece of this.pieces(offset, iov.length)) {
        const state = await this.grainState(piece.sector);
        if (state.kind === 'data') {
          runs.add(state.fileOffset + piece.within, iov.slices(piece.at, piece.length));
          continue;
        }
        const { gdIndex, gtIndex } = this.#entryOf(piece.sector);
        const start = next * SECTOR_SIZE;
        const end = start + grainSize;
        const zerosAt = (position: number, length: number) => {
          const present = Math.max(0, Math.min(length, fileEnd - position));
          if (present > 0) runs.add(position, zeroBuffers(present, zeros));
        };
        zerosAt(start, piece.within);
        runs.add(start + piece.within, iov.slices(piece.at, piece.length));
        const tail = start + piece.within + piece.length;
        if (tail < end) {
          zerosAt(tail, end - tail);
          // The grain's last sector, so that the file holds the grain whole.
          if (end > fileEnd) runs.add(end - SECTOR_SIZE, [zeros.subarray(0, SECTOR_SIZE)]);
        }
        updates.push({ gdIndex, gtIndex, value: next });
        next += this.header.granularity;
      }
      await runs.write(this.source);
      if (updates.length === 0) return;
      this.#nextGrain = next;
      await this.flush();
      await this.#writeEntries(updates);
    });
    if (options?.fua) await this.flush();
  }

  /**
   * Makes `[offset, offset + length)` read as zeros. With the zeroed-grain flag, a whole
   * grain becomes a zeroed grain (its entry set to 1: no data written); otherwise, and for
   * parts of grains, allocated grains are overwritten with zeros. Unallocated grains already
   * read as zeros.
   */
  async zero(offset: number, length: number): Promise<void> {
    if (!this.writable) throw new ReadOnlyError('Image is read-only');
    const zeros = new Uint8Array(Math.min(this.grainSize, 1024 * 1024));
    await this.lock.runExclusive(async () => {
      const runs = new FileRuns();
      const updates: TableUpdate[] = [];
      for (const piece of this.pieces(offset, length)) {
        const state = await this.grainState(piece.sector);
        if (state.kind !== 'data') continue;
        if (this.header.zeroedGrains && piece.length === this.grainSize) {
          updates.push({ ...this.#entryOf(piece.sector), value: ZEROED_GRAIN });
        } else {
          runs.add(state.fileOffset + piece.within, zeroBuffers(piece.length, zeros));
        }
      }
      await runs.write(this.source);
      await this.#writeEntries(updates);
    });
  }

  async flush(): Promise<void> {
    await this.source.flush?.();
  }

  async close(): Promise<void> {}

  /** Where virtual `sector`'s grain entry is: its directory entry and its index in the table. */
  #entryOf(sector: number): { gdIndex: number; gtIndex: number } {
    const { sectorsPerGt, granularity, gtesPerGt } = this.header;
    const gdIndex = Math.floor(sector / sectorsPerGt);
    if (this.gdEntry(gdIndex) === 0) {
      throw new VdiskError('EIO', `Cannot write sector ${sector}: its grain table is not allocated`);
    }
    return { gdIndex, gtIndex: Math.floor(sector / granularity) % gtesPerGt };
  }

  /** Grain table entries, in the primary tables and the redundant ones; then the cache forgets the tables. */
  async #writeEntries(updates: readonly TableUpdate[]): Promise<void> {
    if (updates.length === 0) return;
    const runs = new FileRuns();
    const touched = new Set<number>();
    for (const { gdIndex, gtIndex, value } of updates) {
      const entry = new Uint8Array(4);
      new DataView(entry.buffer).setUint32(0, value, true);
      const gt = this.gdEntry(gdIndex);
      runs.add(gt * SECTOR_SIZE + gtIndex * 4, [entry]);
      touched.add(gt);
      const rgt = this.rgd?.[gdIndex] ?? 0;
      if (rgt !== 0) runs.add(rgt * SECTOR_SIZE + gtIndex * 4, [entry]);
    }
    // Sorted, so that consecutive entries of one table are one write.
    runs.runs.sort((a, b) => a.position - b.position);
    const sorted = new FileRuns();
    for (const run of runs.runs) sorted.add(run.position, run.buffers);
    await sorted.write(this.source);
    for (const gt of touched) this.#gtCache.delete(gt);
  }

  /**
   * The grains that `[offset, offset + length)` touches, in order. Where a grain table is
   * not allocated (or the directory ends), one piece covers all of its grains: a hostile
   * header can claim 2^49 bytes of disk, 2^33 grains, over an empty directory.
   */
  *pieces(offset: number, length: number): Generator<GrainPiece> {
    const grainSize = this.grainSize;
    const { sectorsPerGt, gdEntries, granularity } = this.header;
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const index = Math.floor(position / grainSize);
      const within = position - index * grainSize;
      const gdIndex = Math.floor((index * granularity) / sectorsPerGt);
      let part: number;
      if (gdIndex >= gdEntries) {
        part = length - done;
      } else if (this.gdEntry(gdIndex) === 0) {
        // Through every following unallocated table; past the end of the file they all are.
        let next = gdIndex + 1;
        while (next < this.gd.length && this.gd[next] === 0) next++;
        if (next >= this.gd.length) next = gdEntries;
        part = Math.min(length - done, next * sectorsPerGt * SECTOR_SIZE - position);
      } else {
        part = Math.min(length - done, grainSize - within);
      }
      yield { sector: index * granularity, within, length: part, at: done };
      done += part;
    }
  }
}

/**
 * `count` little-endian u32 entries at `position`, of which only those that lie in the file
 * are held (past its end they read as 0, as in QEMU). `position` may be any 64-bit value.
 */
export async function readEntries(source: ByteSource, position: number | bigint, count: number): Promise<Uint32Array> {
  const start = BigInt(position);
  if (start >= BigInt(source.size)) return new Uint32Array(0);
  const at = Number(start);
  const inFile = Math.min(count, Math.ceil((source.size - at) / 4));
  const table = new Uint32Array(inFile);
  if (inFile === 0) return table;
  const bytes = new Uint8Array(table.buffer);
  await source.read(bytes, at);
  const view = new DataView(table.buffer);
  for (let i = 0; i < inFile; i++) table[i] = view.getUint32(i * 4, true);
  return table;
}
