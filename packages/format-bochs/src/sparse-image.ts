import {
  AsyncMutex,
  appendRun,
  type BlockDevice,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  exactOffset,
  ImageFormatError,
  IoVector,
  ReadOnlyError,
  readSource,
  writeSource,
} from '@vdisk/core';
import { PAGE_NOT_ALLOCATED, SPARSE_HEADER_SIZE, type SparseHeader, sparseDataStart } from './sparse-header.js';

/** Page tables up to this size are read whole at open (1M pages: 32 GiB of bximage's 32 KiB pages); larger ones per request. */
export const MAX_LOADED_PAGE_TABLE = 4 * 1024 * 1024;

/** One page's part of a request. */
interface PagePart {
  page: number;
  within: number;
  length: number;
  /** Where the part is in the request. */
  at: number;
}

/**
 * An open Bochs sparse image (Bochs's sparse_image_t): virtual page → page table →
 * physical page at `dataStart + k * pageSize`. Pages not in the table read as zeros, or
 * from the parent layer, which core reads (this image reports them as not allocated).
 *
 * Writes follow Bochs's layout (a new page goes at the end of the file, its table entry
 * after it) with the crash-safe order of the growing format: the page's bytes, then a
 * barrier, then the table entries, so a power loss can leave an orphan page at the end
 * (a leak) but never an entry pointing at unwritten bytes.
 */
export class SparseImage implements DriverImage {
  readonly requestAlignment = 512;
  readonly virtualSize: number;
  readonly header: SparseHeader;
  readonly source: ByteSource;
  readonly dataStart: number;
  readonly writable: boolean;
  backing?: { filename: string; format: string; ifExists: true };
  /** The parent layer, once core has opened it: a new page starts as the parent's bytes (Bochs's page merge). */
  parent: BlockDevice | undefined;
  /** The whole page table when it is small enough, else undefined and read per request. */
  readonly #table: Uint32Array | undefined;
  /** Entries written since open, when the table is not held whole. */
  readonly #written = new Map<number, number>();
  /** Where the next new page goes: past every page the file holds or the table names. */
  #nextPage: number;
  readonly #lock = new AsyncMutex();

  constructor(
    source: ByteSource,
    header: SparseHeader,
    virtualSize: number,
    table: Uint32Array | undefined,
    nextPage: number,
    writable: boolean,
  ) {
    this.source = source;
    this.header = header;
    this.virtualSize = virtualSize;
    this.dataStart = sparseDataStart(header);
    this.#table = table;
    this.#nextPage = nextPage;
    this.writable = writable;
  }

  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const iov = new IoVector(buffers);
    await this.#lock.runExclusive(async () => {
      const parts = this.#parts(offset, iov.length);
      const entries = await this.#entries(parts);
      // Consecutive physical pages are read with one preadv (bximage's converts are in order).
      let run: { position: number; end: number; buffers: Uint8Array[] } | undefined;
      const flush = async () => {
        if (run) await readSource(this.source, run.buffers, run.position);
        run = undefined;
      };
      for (const [i, part] of parts.entries()) {
        const entry = entries[i] as number;
        if (entry === PAGE_NOT_ALLOCATED) {
          await flush();
          iov.zero(part.at, part.length);
          continue;
        }
        const position = this.#pageOffset(entry) + part.within;
        const pieces = iov.slices(part.at, part.length);
        if (run && run.end === position) {
          run.buffers.push(...pieces);
          run.end += part.length;
        } else {
          await flush();
          run = { position, end: position + part.length, buffers: pieces };
        }
      }
      await flush();
    });
  }

  async blockStatus(offset: number, length: number): Promise<BlockStatusRun[]> {
    return this.#lock.runExclusive(async () => {
      const parts = this.#parts(offset, length);
      const entries = await this.#entries(parts);
      const runs: BlockStatusRun[] = [];
      for (const [i, part] of parts.entries()) {
        const entry = entries[i] as number;
        const run: BlockStatusRun = {
          offset: offset + part.at,
          length: part.length,
          data: entry !== PAGE_NOT_ALLOCATED,
        };
        if (run.data) run.fileOffset = this.#pageOffset(entry) + part.within;
        appendRun(runs, run);
      }
      return runs;
    });
  }

  async write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    if (!this.writable) throw new ReadOnlyError();
    const iov = new IoVector(buffers);
    await this.#lock.runExclusive(async () => {
      const parts = this.#parts(offset, iov.length);
      const entries = await this.#entries(parts);
      const fresh: Array<{ page: number; physical: number }> = [];
      for (const [i, part] of parts.entries()) {
        const data = iov.slices(part.at, part.length);
        let entry = entries[i] as number;
        if (entry === PAGE_NOT_ALLOCATED) {
          entry = this.#nextPage;
          if (entry >= PAGE_NOT_ALLOCATED) throw new ReadOnlyError('sparse: no page number left for a new page');
          await this.#writeNewPage(entry, part, data);
          this.#nextPage = entry + 1;
          fresh.push({ page: part.page, physical: entry });
        } else {
          await writeSource(this.source, data, this.#pageOffset(entry) + part.within);
        }
      }
      if (fresh.length > 0) {
        // The barrier: the new pages are durable before any entry points at them.
        await this.source.flush?.();
        await this.#writeEntries(fresh);
      }
    });
  }

  async flush(): Promise<void> {
    await this.#lock.runExclusive(async () => this.source.flush?.());
  }

  async close(): Promise<void> {}

  /** Where the next new page goes (set at a writable open, and after `check -r` cuts leaked pages). */
  setNextPage(page: number): void {
    this.#nextPage = page;
  }

  /** Bochs's check of a layer against its parent (sparse_image_t::open), and the parent kept for page merges. */
  async backingOpened(parent: BlockDevice): Promise<void> {
    const other = parent.image;
    if (
      !(other instanceof SparseImage) ||
      other.header.pageSize !== this.header.pageSize ||
      other.header.pageSize * other.header.pageCount !== this.header.pageSize * this.header.pageCount
    ) {
      throw new ImageFormatError('child drive image does not have same page count/page size configuration');
    }
    this.parent = parent;
  }

  /** The table entry of every page, for `check` and `info`: whole, or in bounded slices. */
  async *tableEntries(): AsyncGenerator<{ page: number; entry: number }> {
    const slice = 65536;
    for (let first = 0; first < this.header.pageCount; first += slice) {
      const count = Math.min(slice, this.header.pageCount - first);
      const entries = await this.#tableSlice(first, count);
      for (let i = 0; i < count; i++) yield { page: first + i, entry: entries[i] as number };
    }
  }

  /** A new page at physical `entry`: the parent's bytes (or zeros) with the write laid over, then its table entry later. */
  async #writeNewPage(entry: number, part: PagePart, data: Uint8Array[]): Promise<void> {
    const { pageSize } = this.header;
    const pageStart = this.#pageOffset(entry);
    if (this.parent) {
      // Bochs reads the whole page from the parent and writes the merged page.
      const page = new Uint8Array(pageSize);
      const virtualStart = part.page * pageSize;
      const inParent = Math.max(
        0,
        Math.min(pageSize, this.parent.virtualSize - virtualStart, this.virtualSize - virtualStart),
      );
      if (inParent > 0) await this.parent.readInto(page.subarray(0, inParent), virtualStart);
      let at = part.within;
      for (const piece of data) {
        page.set(piece, at);
        at += piece.length;
      }
      await writeSource(this.source, [page], pageStart);
      return;
    }
    // Without a parent, as Bochs: the data, and 4 zero bytes at the page's end so the file
    // holds the whole page (a hole in between, which reads as zeros).
    await writeSource(this.source, data, pageStart + part.within);
    if (part.within + part.length < pageSize)
      await writeSource(this.source, [new Uint8Array(4)], pageStart + pageSize - 4);
  }

  /** Writes the entries of new pages, one write per run of consecutive table slots (Bochs writes its range at once). */
  async #writeEntries(fresh: Array<{ page: number; physical: number }>): Promise<void> {
    let i = 0;
    while (i < fresh.length) {
      let j = i + 1;
      while (j < fresh.length && (fresh[j] as { page: number }).page === (fresh[j - 1] as { page: number }).page + 1)
        j++;
      const bytes = new Uint8Array(4 * (j - i));
      const view = new DataView(bytes.buffer);
      for (let k = i; k < j; k++) view.setUint32(4 * (k - i), (fresh[k] as { physical: number }).physical, true);
      const first = fresh[i] as { page: number };
      await writeSource(this.source, [bytes], SPARSE_HEADER_SIZE + 4 * first.page);
      for (let k = i; k < j; k++) {
        const { page, physical } = fresh[k] as { page: number; physical: number };
        if (this.#table) this.#table[page] = physical;
        else this.#written.set(page, physical);
      }
      i = j;
    }
  }

  #pageOffset(entry: number): number {
    return exactOffset(BigInt(this.dataStart) + BigInt(entry) * BigInt(this.header.pageSize), 'Sparse page offset');
  }

  #parts(offset: number, length: number): PagePart[] {
    const { pageSize } = this.header;
    const parts: PagePart[] = [];
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const page = Math.floor(position / pageSize);
      const within = position - page * pageSize;
      const part = Math.min(length - done, pageSize - within);
      parts.push({ page, within, length: part, at: done });
      done += part;
    }
    return parts;
  }

  /** The entries of the pages a request touches: from the table, or one read of the slice they span. */
  async #entries(parts: PagePart[]): Promise<number[]> {
    if (parts.length === 0) return [];
    const first = (parts[0] as PagePart).page;
    const count = (parts[parts.length - 1] as PagePart).page - first + 1;
    const slice = await this.#tableSlice(first, count);
    return parts.map((part) => slice[part.page - first] as number);
  }

  async #tableSlice(first: number, count: number): Promise<Uint32Array> {
    if (this.#table) return this.#table.subarray(first, first + count);
    const bytes = new Uint8Array(4 * count);
    await this.source.read(bytes, SPARSE_HEADER_SIZE + 4 * first);
    const view = new DataView(bytes.buffer);
    const entries = new Uint32Array(count);
    for (let i = 0; i < count; i++) entries[i] = this.#written.get(first + i) ?? view.getUint32(4 * i, true);
    return entries;
  }
}
