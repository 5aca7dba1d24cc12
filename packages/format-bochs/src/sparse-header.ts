import { ImageFormatError } from '@vdisk/core';

/**
 * The header of a Bochs sparse image (Bochs 2.7 hdimage.h, sparse_header_t; BOCHS-FAMILY.md
 * §4): 256 bytes, then the page table of `numpages` uint32, then the pages from the first
 * multiple of the page size on.
 */
export const SPARSE_HEADER_SIZE = 256;
export const SPARSE_MAGIC = 0x02468ace;
export const SPARSE_V1 = 1;
export const SPARSE_V2 = 2;
/** Page table value of a page never written (SPARSE_PAGE_NOT_ALLOCATED). */
export const PAGE_NOT_ALLOCATED = 0xffffffff;
/** bximage's page size (`create_image`: "Use 32 KB Pages - could be configurable"). */
export const BXIMAGE_PAGE_SIZE = 32768;

export interface SparseHeader {
  version: 1 | 2;
  pageSize: number;
  pageCount: number;
  /** v2's disk field; v1 has none, and its size is pageSize * pageCount. */
  diskSize: bigint;
}

/** sparse_image_t::check_format: the magic and a known version. */
export function isSparseHeader(sector: Uint8Array): boolean {
  if (sector.length < 8) return false;
  const view = new DataView(sector.buffer, sector.byteOffset, sector.byteLength);
  const version = view.getUint32(4, true);
  return view.getUint32(0, true) === SPARSE_MAGIC && (version === SPARSE_V1 || version === SPARSE_V2);
}

/** Decodes the header with Bochs's checks (its panics become errors, in its words). */
export function parseSparseHeader(bytes: Uint8Array): SparseHeader {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint32(0, true) !== SPARSE_MAGIC) throw new ImageFormatError('sparse: failed header magic check');
  const rawVersion = view.getUint32(4, true);
  if (rawVersion !== SPARSE_V1 && rawVersion !== SPARSE_V2) {
    throw new ImageFormatError('sparse: unknown version in header');
  }
  const version = rawVersion === SPARSE_V1 ? 1 : 2;
  const pageSize = view.getUint32(8, true);
  const pageCount = view.getUint32(12, true);
  if (pageSize === 0 || (pageSize & (pageSize - 1)) !== 0) throw new ImageFormatError('failed block size header check');
  if (pageSize % 512 !== 0) {
    throw new ImageFormatError('page size of sparse disk image is not multiple of sector size');
  }
  const pagesBytes = BigInt(pageSize) * BigInt(pageCount);
  const diskSize = version === 2 ? view.getBigUint64(16, true) : pagesBytes;
  // Bochs's lseek refuses offsets past pageSize * numpages, and its page table has no
  // entry for them: a disk field beyond the pages is not an image Bochs can read.
  if (diskSize > pagesBytes) throw new ImageFormatError('sparse: disk size is larger than its pages');
  return { version, pageSize, pageCount, diskSize };
}

/** The header bximage's `create_image` writes for a disk of `size` bytes (v2, 32 KiB pages). */
export function buildSparseHeader(size: number, pageSize = BXIMAGE_PAGE_SIZE): Uint8Array {
  const pageCount = Math.floor(size / pageSize) + 1;
  if (pageCount > 0xffffffff) throw new ImageFormatError('The disk image is too large for a sparse image!');
  const bytes = new Uint8Array(SPARSE_HEADER_SIZE);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, SPARSE_MAGIC, true);
  view.setUint32(4, SPARSE_V2, true);
  view.setUint32(8, pageSize, true);
  view.setUint32(12, pageCount, true);
  view.setBigUint64(16, BigInt(size), true);
  return bytes;
}

/** Where page 0 starts: the header and the page table, rounded up to the page size (Bochs's data_start). */
export function sparseDataStart(header: SparseHeader): number {
  const preamble = SPARSE_HEADER_SIZE + 4 * header.pageCount;
  return Math.ceil(preamble / header.pageSize) * header.pageSize;
}
