import { ImageFormatError } from '@vdisk/core';

/** QEMU's HEADER_SIZE: the header is read as one 512-byte struct. */
export const HEADER_SIZE = 512;
export const HEADER_MAGIC = 'Bochs Virtual HD Image';
export const REDOLOG_TYPE = 'Redolog';
export const GROWING_TYPE = 'Growing';
export const HEADER_V1 = 0x00010000;
export const HEADER_V2 = 0x00020000;

/** Field offsets of the header (FORMAT.md §1). */
export const FIELD = {
  magic: 0x00,
  type: 0x20,
  subtype: 0x30,
  version: 0x40,
  header: 0x44,
  catalog: 0x48,
  bitmap: 0x4c,
  extent: 0x50,
  /** v2 only: a FAT timestamp that QEMU calls "reserved" and ignores. */
  timestamp: 0x54,
  /** v1 reads the disk size at 0x54 (QEMU's packed redolog_v1 struct). */
  diskV1: 0x54,
  diskV2: 0x58,
} as const;

export interface BochsHeader {
  version: 1 | 2;
  subtype: string;
  /** Where the catalog starts, in bytes. */
  headerSize: number;
  /** Number of catalog entries. */
  catalogSize: number;
  /** Bitmap size in bytes, per extent. Only sets the slot stride. */
  bitmapSize: number;
  /** Extent size in bytes. */
  extentSize: number;
  /** The disk size field, uint64. */
  diskSize: bigint;
}

/**
 * C's `strcmp(field, expected) == 0` on a fixed-size field: the expected text and then a
 * NUL. Bytes after the NUL do not matter; a field with no NUL where the text ends cannot
 * match.
 */
function fieldIs(bytes: Uint8Array, offset: number, expected: string): boolean {
  for (let i = 0; i < expected.length; i++) {
    if (bytes[offset + i] !== expected.charCodeAt(i)) return false;
  }
  return bytes[offset + expected.length] === 0;
}

/** The text of a NUL-terminated field of at most `length` bytes. */
function fieldText(bytes: Uint8Array, offset: number, length: number): string {
  let end = offset;
  while (end < offset + length && bytes[end] !== 0) end++;
  return String.fromCharCode(...bytes.subarray(offset, end));
}

/** bochs_probe's test: magic, type `Redolog`, subtype `Growing`, version v1 or v2. */
export function isBochsGrowingHeader(sector: Uint8Array): boolean {
  if (sector.length < HEADER_SIZE) return false;
  const version = new DataView(sector.buffer, sector.byteOffset, sector.byteLength).getUint32(FIELD.version, true);
  return (
    fieldIs(sector, FIELD.magic, HEADER_MAGIC) &&
    fieldIs(sector, FIELD.type, REDOLOG_TYPE) &&
    fieldIs(sector, FIELD.subtype, GROWING_TYPE) &&
    (version === HEADER_V2 || version === HEADER_V1)
  );
}

/**
 * Decodes the 512-byte header, or fails with QEMU's `Image not in Bochs format`. The
 * other checks of bochs_open need the catalog read in between, so they are the image's.
 */
export function parseHeader(bytes: Uint8Array): BochsHeader {
  if (!isBochsGrowingHeader(bytes)) throw new ImageFormatError('Image not in Bochs format');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(FIELD.version, true) === HEADER_V1 ? 1 : 2;
  return {
    version,
    subtype: fieldText(bytes, FIELD.subtype, 16),
    headerSize: view.getUint32(FIELD.header, true),
    catalogSize: view.getUint32(FIELD.catalog, true),
    bitmapSize: view.getUint32(FIELD.bitmap, true),
    extentSize: view.getUint32(FIELD.extent, true),
    diskSize: view.getBigUint64(version === 1 ? FIELD.diskV1 : FIELD.diskV2, true),
  };
}

/** The fields of a header that vdisk writes: always v2, subtype Growing, header 512, timestamp 0. */
export interface NewHeader {
  catalogSize: number;
  bitmapSize: number;
  extentSize: number;
  diskSize: number;
}

/**
 * The 512 bytes bximage 2.7 writes for `-func=create -imgmode=growing` (and, but for the
 * timestamp, for `-func=convert`): v2, timestamp 0 as bximage's create leaves it, every
 * byte not named here zero.
 */
export function encodeHeader({ catalogSize, bitmapSize, extentSize, diskSize }: NewHeader): Uint8Array {
  const bytes = new Uint8Array(HEADER_SIZE);
  const put = (offset: number, text: string) => {
    for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
  };
  put(FIELD.magic, HEADER_MAGIC);
  put(FIELD.type, REDOLOG_TYPE);
  put(FIELD.subtype, GROWING_TYPE);
  const view = new DataView(bytes.buffer);
  view.setUint32(FIELD.version, HEADER_V2, true);
  view.setUint32(FIELD.header, HEADER_SIZE, true);
  view.setUint32(FIELD.catalog, catalogSize, true);
  view.setUint32(FIELD.bitmap, bitmapSize, true);
  view.setUint32(FIELD.extent, extentSize, true);
  view.setUint32(FIELD.timestamp, 0, true);
  view.setBigUint64(FIELD.diskV2, BigInt(diskSize), true);
  return bytes;
}
