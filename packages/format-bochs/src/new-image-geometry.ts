import { InvalidArgumentError } from '@vdisk/core';
import { MAX_CATALOG_SIZE, MAX_EXTENT_SIZE, SECTOR_SIZE } from './geometry.js';

/** 128 entries of 4 bytes: one sector. */
const CATALOG_ALIGNMENT = SECTOR_SIZE / 4;

/** The catalog, bitmap and extent sizes of a new image. */
export interface NewImageGeometry {
  catalogSize: number;
  bitmapSize: number;
  extentSize: number;
}

/**
 * bximage's sizing (bximage.cc, FORMAT.md §4): 512 entries, a 1-byte bitmap and 4 KiB
 * extents, then the bitmap and the catalog doubled in turn, bitmap first, until
 * `entries * extent` covers the disk. The extent is always 4096 * bitmap, so the bitmap
 * covers it exactly. Past 8 TiB it would need extents QEMU refuses: an error.
 */
export function bximageGeometry(diskSize: number): NewImageGeometry {
  let catalogSize = 512;
  let bitmapSize = 1;
  let doubleBitmap = true;
  while (catalogSize * 4096 * bitmapSize < diskSize) {
    if (doubleBitmap) bitmapSize *= 2;
    else catalogSize *= 2;
    doubleBitmap = !doubleBitmap;
  }
  const extentSize = 4096 * bitmapSize;
  if (extentSize > MAX_EXTENT_SIZE || catalogSize > MAX_CATALOG_SIZE) {
    throw new InvalidArgumentError(
      `Image size ${diskSize} is too large for a Bochs image (at most ${MAX_CATALOG_SIZE * MAX_EXTENT_SIZE} bytes)`,
    );
  }
  return { catalogSize, bitmapSize, extentSize };
}

/**
 * `-o extent_size=N`: extents of N bytes, checked with bochs_open's messages, a bitmap of
 * one bit per sector, and enough entries for the disk, rounded up to a multiple of 128 so
 * that slots start on a 512-byte sector of the file, as bximage's always do: a disk writes
 * whole sectors atomically, and a virtual sector split across two could be torn by a crash.
 */
export function geometryForExtent(diskSize: number, extentSize: number): NewImageGeometry {
  if (extentSize < SECTOR_SIZE) throw new InvalidArgumentError('Extent size must be at least 512');
  if ((extentSize & (extentSize - 1)) !== 0) {
    throw new InvalidArgumentError(`Extent size ${extentSize} is not a power of two`);
  }
  if (extentSize > MAX_EXTENT_SIZE) throw new InvalidArgumentError(`Extent size ${extentSize} is too large`);
  const catalogSize = Math.max(1, Math.ceil(diskSize / extentSize / CATALOG_ALIGNMENT)) * CATALOG_ALIGNMENT;
  if (catalogSize > MAX_CATALOG_SIZE) {
    throw new InvalidArgumentError(
      `Catalog size is too large: extents of ${extentSize} bytes need ${catalogSize} entries for ${diskSize} bytes, at most ${MAX_CATALOG_SIZE}`,
    );
  }
  return { catalogSize, bitmapSize: Math.ceil(extentSize / SECTOR_SIZE / 8), extentSize };
}
