import {
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  type CheckOptions,
  type CheckProblem,
  type CheckReport,
  type CreateOptions,
  type DriverOpenOptions,
  exactOffset,
  type FormatSpecificInfo,
  ImageFormatError,
  InvalidArgumentError,
  ReadOnlyError,
  writeSource,
} from '@vdisk/core';
import {
  buildSparseHeader,
  isSparseHeader,
  PAGE_NOT_ALLOCATED,
  parseSparseHeader,
  SPARSE_HEADER_SIZE,
  sparseDataStart,
} from './sparse-header.js';
import { MAX_LOADED_PAGE_TABLE, SparseImage } from './sparse-image.js';

/** Problems listed by `check`; the rest are counted (a hostile table can hold millions). */
const MAX_LISTED_PROBLEMS = 1000;

/**
 * Bochs's own paged format (`-imgmode=sparse`, Bochs 2.7 sparse_image_t): no other tool but
 * Bochs reads it. Layers (`c.img.1` over `c.img.0`) are followed by Bochs's rule only when
 * the format is named: probing a file never makes it pull in another one (CVE-2008-2004).
 */
export class BochsSparseDriver implements BlockDriver<SparseImage> {
  readonly name = 'bochs-sparse';
  readonly description = 'Bochs sparse (paged) disk image, with layers';

  /** 100 on the magic and a known version (sparse_image_t::check_format), else 0. */
  probe(firstSector: Uint8Array): number {
    return isSparseHeader(firstSector) ? 100 : 0;
  }

  async open(source: ByteSource, { writable, options, filename, probed }: DriverOpenOptions): Promise<SparseImage> {
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'bochs-sparse' does not support the option '${unknown}'`);
    }
    if (writable && typeof source.write !== 'function') throw new ReadOnlyError();
    const headerBytes = new Uint8Array(SPARSE_HEADER_SIZE);
    await source.read(headerBytes, 0);
    const header = parseSparseHeader(headerBytes);
    // Bochs reads the whole table and refuses a file that does not hold it; so do we,
    // rather than read a cut table as zeros (which would name physical page 0).
    if (source.size < SPARSE_HEADER_SIZE + 4 * header.pageCount) {
      throw new ImageFormatError('could not read entire block table');
    }
    const disk = exactOffset(header.diskSize, 'Disk size');
    const virtualSize = Math.ceil(disk / 512) * 512;

    let table: Uint32Array | undefined;
    if (4 * header.pageCount <= MAX_LOADED_PAGE_TABLE) {
      table = new Uint32Array(header.pageCount);
      await source.read(new Uint8Array(table.buffer), SPARSE_HEADER_SIZE);
      if (new Uint8Array(Uint32Array.of(1).buffer)[0] === 0) {
        const view = new DataView(table.buffer);
        for (let i = 0; i < table.length; i++) table[i] = view.getUint32(i * 4, true);
      }
    }
    const dataStart = sparseDataStart(header);
    // Bochs appends after the pages the file holds; we also step past any page the table
    // names (a crash can leave an orphan page; a hostile table can point past the end).
    let nextPage = Math.max(0, Math.ceil((source.size - dataStart) / header.pageSize));
    const image = new SparseImage(source, header, virtualSize, table, nextPage, writable);
    if (writable) {
      for await (const { entry } of image.tableEntries()) {
        if (entry !== PAGE_NOT_ALLOCATED && entry >= nextPage) nextPage = entry + 1;
      }
      image.setNextPage(nextPage);
    }
    const parent = probed ? undefined : parentLayerName(filename);
    if (parent !== undefined) image.backing = { filename: parent, format: this.name, ifExists: true };
    return image;
  }

  blockStatus(image: SparseImage, offset: number, length: number): Promise<BlockStatusRun[]> {
    return image.blockStatus(offset, length);
  }

  /** Core flushes after a FUA write (the contract), so `fua` needs nothing here. */
  write(image: SparseImage, offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return image.write(offset, buffers);
  }

  flush(image: SparseImage): Promise<void> {
    return image.flush();
  }

  info(image: SparseImage): FormatSpecificInfo {
    return {
      type: 'bochs-sparse',
      data: {
        version: image.header.version,
        'page-size': image.header.pageSize,
        'page-count': image.header.pageCount,
        'data-start': image.dataStart,
      },
    };
  }

  /** bximage's `create_image`: header, a table of unallocated pages, zero padding to the page size. */
  async create(target: ByteSource, { virtualSize, options }: CreateOptions): Promise<void> {
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'bochs-sparse' does not support the option '${unknown}'`);
    }
    const size = Math.ceil(virtualSize / 512) * 512;
    const header = buildSparseHeader(size);
    const pageCount = new DataView(header.buffer).getUint32(12, true);
    const pageSize = new DataView(header.buffer).getUint32(8, true);
    await writeSource(target, [header], 0);
    // The table in bounded chunks: 8 TiB of 32 KiB pages is a 1 GiB table.
    const chunkEntries = 256 * 1024;
    for (let first = 0; first < pageCount; first += chunkEntries) {
      const count = Math.min(chunkEntries, pageCount - first);
      await writeSource(target, [new Uint8Array(4 * count).fill(0xff)], SPARSE_HEADER_SIZE + 4 * first);
    }
    // As bximage: pad to the next page boundary, a whole page when the table ends on one.
    const soFar = SPARSE_HEADER_SIZE + 4 * pageCount;
    const padding = pageSize - (soFar & (pageSize - 1));
    await writeSource(target, [new Uint8Array(padding)], soFar);
    await target.flush?.();
  }

  /**
   * The table against the file: entries past the end of the file and pages named twice are
   * corruption; pages the file holds that no entry names, and a cut last page, are leaks
   * (what a crash between a page and its entry leaves). `repair` cuts leaked pages at the
   * end of the file (Bochs appends there, so that is where a crash leaves them).
   */
  async check(image: SparseImage, options?: CheckOptions): Promise<CheckReport> {
    const { pageSize } = image.header;
    const problems: CheckProblem[] = [];
    const omitted = { corruptions: 0, leaks: 0 };
    const add = (kind: CheckProblem['kind'], message: () => string, extent?: number) => {
      if (problems.length < MAX_LISTED_PROBLEMS)
        problems.push(extent === undefined ? { kind, message: message() } : { kind, extent, message: message() });
      else if (kind === 'corruption') omitted.corruptions++;
      else omitted.leaks++;
    };
    const fileSize = image.source.size;
    const filePages = Math.max(0, Math.floor((fileSize - image.dataStart) / pageSize));
    const used = new Uint8Array(Math.ceil(filePages / 8));
    for await (const { page, entry } of image.tableEntries()) {
      if (entry === PAGE_NOT_ALLOCATED) continue;
      if (entry >= filePages) {
        add('corruption', () => `Page ${page} points to page ${entry}, past the end of the file`, page);
        continue;
      }
      const bit = 1 << (entry & 7);
      if ((used[entry >> 3] as number) & bit) {
        add('corruption', () => `Page ${page} points to page ${entry}, which another page uses too`, page);
        continue;
      }
      used[entry >> 3] = (used[entry >> 3] as number) | bit;
    }
    let lastUsed = -1;
    for (let k = 0; k < filePages; k++) if ((used[k >> 3] as number) & (1 << (k & 7))) lastUsed = k;
    let leaked = 0;
    for (let k = 0; k < filePages; k++) {
      if (!((used[k >> 3] as number) & (1 << (k & 7)))) {
        leaked++;
        add('leak', () => `Page ${k} of the file is not used`, k);
      }
    }
    const tail = fileSize - (image.dataStart + filePages * pageSize);
    if (tail > 0) add('leak', () => `${tail} bytes past the last whole page`);

    const report: CheckReport = { problems };
    if (omitted.corruptions + omitted.leaks > 0) report.omitted = omitted;
    if (!options?.repair) return report;

    // Leaked pages past the last used one, and a cut page, go; a leak between used pages stays.
    const keep = image.dataStart + (lastUsed + 1) * pageSize;
    const cut = Math.max(0, filePages - (lastUsed + 1)) + (tail > 0 ? 1 : 0);
    if ((leaked > 0 || tail > 0) && keep < fileSize) {
      if (!image.writable || !image.source.truncate) throw new ReadOnlyError();
      await image.source.truncate(keep);
      await image.source.flush?.();
      image.setNextPage(lastUsed + 1);
      return { ...(await this.check(image)), repaired: { corruptions: 0, leaks: cut } };
    }
    return { ...report, repaired: { corruptions: 0, leaks: 0 } };
  }
}

/**
 * Bochs's layering rule: a name whose last character is a digit d > 0 has the file with
 * d - 1 in its place as its parent (`c.img.1` over `c.img.0`), when that file exists. The
 * name is relative to the image's own directory.
 */
export function parentLayerName(filename: string | undefined): string | undefined {
  if (!filename) return undefined;
  const base = filename.slice(filename.lastIndexOf('/') + 1);
  const last = base.charCodeAt(base.length - 1);
  if (!(last > 0x30 && last <= 0x39)) return undefined;
  return base.slice(0, -1) + String.fromCharCode(last - 1);
}
