import { ImageFormatError } from '@vdisk/core';
import { type BochsHeader, FIELD, HEADER_MAGIC, HEADER_SIZE, HEADER_V1, HEADER_V2, REDOLOG_TYPE } from './header.js';

/** The subtypes of a redolog over a base (Bochs's undoable and volatile modes). QEMU refuses both. */
export const REDOLOG_SUBTYPES = ['Undoable', 'Volatile'] as const;
export type RedologSubtype = (typeof REDOLOG_SUBTYPES)[number];

/** A redolog's header: a growing image's, with its subtype and the FAT timestamp at 0x54. */
export interface RedologHeader extends BochsHeader {
  subtype: RedologSubtype;
  /**
   * The u32 at 0x54, as Bochs reads it for any version (redolog_t::get_timestamp): for v2 the
   * base's FAT date and time when the redolog was made, 0 for "not yet stamped".
   */
  timestamp: number;
}

/** `strcmp(field, expected) == 0` on a fixed-size field, as Bochs's check_format compares. */
function fieldIs(bytes: Uint8Array, offset: number, expected: string): boolean {
  for (let i = 0; i < expected.length; i++) if (bytes[offset + i] !== expected.charCodeAt(i)) return false;
  return bytes[offset + expected.length] === 0;
}

function subtypeOf(sector: Uint8Array): RedologSubtype | undefined {
  return REDOLOG_SUBTYPES.find((subtype) => fieldIs(sector, FIELD.subtype, subtype));
}

/** redolog_t::check_format with subtype Undoable or Volatile. */
export function isBochsRedologHeader(sector: Uint8Array): boolean {
  if (sector.length < HEADER_SIZE) return false;
  const version = new DataView(sector.buffer, sector.byteOffset, sector.byteLength).getUint32(FIELD.version, true);
  return (
    fieldIs(sector, FIELD.magic, HEADER_MAGIC) &&
    fieldIs(sector, FIELD.type, REDOLOG_TYPE) &&
    subtypeOf(sector) !== undefined &&
    (version === HEADER_V2 || version === HEADER_V1)
  );
}

/** Decodes a redolog's header, in the words Bochs panics with. */
export function parseRedologHeader(bytes: Uint8Array): RedologHeader {
  if (!fieldIs(bytes, FIELD.magic, HEADER_MAGIC)) throw new ImageFormatError('redolog : Bad header magic');
  const subtype = subtypeOf(bytes);
  if (!fieldIs(bytes, FIELD.type, REDOLOG_TYPE) || subtype === undefined) {
    throw new ImageFormatError('redolog : Bad header type or subtype');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const rawVersion = view.getUint32(FIELD.version, true);
  if (rawVersion !== HEADER_V1 && rawVersion !== HEADER_V2) throw new ImageFormatError('redolog : Bad header version');
  const version = rawVersion === HEADER_V1 ? 1 : 2;
  return {
    version,
    subtype,
    headerSize: view.getUint32(FIELD.header, true),
    catalogSize: view.getUint32(FIELD.catalog, true),
    bitmapSize: view.getUint32(FIELD.bitmap, true),
    extentSize: view.getUint32(FIELD.extent, true),
    diskSize: view.getBigUint64(version === 1 ? FIELD.diskV1 : FIELD.diskV2, true),
    timestamp: view.getUint32(FIELD.timestamp, true),
  };
}

/**
 * Bochs's timestamp of a file (device_image_t::get_timestamp): FAT time in the low 16 bits
 * (seconds / 2, minutes, hours) and FAT date in the high 16 (day, month, year - 1980), of
 * the modification time in local time (fat_datetime uses localtime_r: TZ matters).
 */
export function fatTimestamp(time: Date): number {
  const fatTime = (time.getSeconds() >> 1) | (time.getMinutes() << 5) | (time.getHours() << 11);
  const fatDate = time.getDate() | ((time.getMonth() + 1) << 5) | ((time.getFullYear() - 1980) << 9);
  return (fatTime | (fatDate << 16)) >>> 0;
}

/** `DD.MM.YYYY HH:MM:SS` of a FAT timestamp, as coherency_check prints it. */
export function formatFatTimestamp(timestamp: number): string {
  const two = (n: number) => String(n).padStart(2, '0');
  const day = (timestamp >>> 16) & 0x1f;
  const month = (timestamp >>> 21) & 0x0f;
  const year = ((timestamp >>> 25) & 0x7f) + 1980;
  const hours = (timestamp & 0xf800) >>> 11;
  const minutes = (timestamp & 0x07e0) >>> 5;
  const seconds = (timestamp & 0x001f) << 1;
  return `${two(day)}.${two(month)}.${String(year).padStart(4, '0')} ${two(hours)}:${two(minutes)}:${two(seconds)}`;
}
