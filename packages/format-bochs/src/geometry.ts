import { ImageFormatError, UnsafeOffsetError } from '@vdisk/core';
import type { BochsHeader } from './header.js';

export const SECTOR_SIZE = 512;
/** Catalog value of an extent that was never written. */
export const UNALLOCATED = 0xffffffff;
/** QEMU's limit: the largest catalog bximage makes (~8 TB); it bounds the catalog's allocation to 4 MiB. */
export const MAX_CATALOG_SIZE = 0x100000;
/** QEMU's limit on the extent size (8 MiB). */
export const MAX_EXTENT_SIZE = 0x800000;

/** Where things are in a Bochs image, derived from a validated header (FORMAT.md §3). */
export interface BochsGeometry {
  virtualSize: number;
  /** Where slot 0 starts: header + 4 * catalog, computed exactly (QEMU wraps it at 32 bits). */
  dataOffset: number;
  /** 512-byte blocks of bitmap at the start of each slot: 1 + (bitmap - 1) / 512 in uint32. */
  bitmapBlocks: number;
  /** 512-byte blocks of data in each slot. */
  extentBlocks: number;
  extentSize: number;
  /** Bytes from one slot to the next. */
  slotStride: number;
}

/** Checks `catalog` as bochs_open does, before the catalog is read. */
export function checkCatalogSize(header: BochsHeader): void {
  if (header.catalogSize > MAX_CATALOG_SIZE) throw new ImageFormatError('Catalog size is too large');
}

/** The rest of bochs_open's checks, in its order, then the layout. */
export function computeGeometry(header: BochsHeader): BochsGeometry {
  const extent = header.extentSize;
  if (extent < SECTOR_SIZE) {
    // CVE-2014-0142 was a division by a zero extent; bximage never makes one below 4k.
    throw new ImageFormatError('Extent size must be at least 512');
  }
  if ((extent & (extent - 1)) !== 0) throw new ImageFormatError(`Extent size ${extent} is not a power of two`);
  if (extent > MAX_EXTENT_SIZE) throw new ImageFormatError(`Extent size ${extent} is too large`);

  // total_sectors = disk / 512, then catalog >= DIV_ROUND_UP(total_sectors, extent / 512):
  // this keeps every extent index of the disk inside the catalog. In bigint, as disk is uint64.
  const totalSectors = header.diskSize / BigInt(SECTOR_SIZE);
  const sectorsPerExtent = BigInt(extent / SECTOR_SIZE);
  const extentsNeeded = (totalSectors + sectorsPerExtent - 1n) / sectorsPerExtent;
  if (BigInt(header.catalogSize) < extentsNeeded) {
    throw new ImageFormatError('Catalog size is too small for this disk size');
  }
  // After that check the disk is at most 2^20 extents of 2^23 bytes: 2^43, exact in a number.
  const virtualSize = Number(totalSectors) * SECTOR_SIZE;

  const bitmapBlocks = 1 + Math.floor(((header.bitmapSize - 1) >>> 0) / SECTOR_SIZE);
  const extentBlocks = 1 + Math.floor((extent - 1) / SECTOR_SIZE);
  return {
    virtualSize,
    dataOffset: header.headerSize + 4 * header.catalogSize,
    bitmapBlocks,
    extentBlocks,
    extentSize: extent,
    slotStride: SECTOR_SIZE * (bitmapBlocks + extentBlocks),
  };
}

/**
 * File offset of a slot. A catalog entry is any uint32, so this reaches 2^64: QEMU computes
 * it in uint64 and reads zeros past the end of the file. We refuse what a number cannot
 * hold exactly rather than read at a rounded offset.
 */
export function slotOffset(geometry: BochsGeometry, slot: number, extent: number): number {
  // Exact whenever the true value is below 2^53; when it is not, the rounded product is
  // still at least 2^53, so the check below catches it.
  const offset = geometry.dataOffset + slot * geometry.slotStride;
  if (!Number.isSafeInteger(offset)) {
    const exact = BigInt(geometry.dataOffset) + BigInt(slot) * BigInt(geometry.slotStride);
    throw new UnsafeOffsetError(
      `Extent ${extent} is stored in slot ${slot} at offset ${exact}, beyond 2^53 and not readable exactly`,
    );
  }
  return offset;
}
