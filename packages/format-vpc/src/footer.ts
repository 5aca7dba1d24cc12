import { ImageFormatError } from '@vdisk/core';

/** The footer (and its copy at 0 in a dynamic image) is one 512-byte sector; QEMU's HEADER_SIZE. */
export const FOOTER_SIZE = 512;
/** The dynamic disk header is 1024 bytes. */
export const DYNAMIC_HEADER_SIZE = 1024;
export const SECTOR_SIZE = 512;

export const FOOTER_COOKIE = 'conectix';
export const DYNAMIC_COOKIE = 'cxsparse';

export const DISK_FIXED = 2;
export const DISK_DYNAMIC = 3;
export const DISK_DIFFERENCING = 4;

/** A BAT entry for a block that is not allocated. */
export const UNALLOCATED = 0xffffffff;

/** QEMU's VHD_CHS_MAX_*: the geometry that means "use current_size" (65535 x 16 x 255). */
export const CHS_MAX = { cylinders: 65535, heads: 16, sectors: 255 } as const;
export const MAX_GEOMETRY = CHS_MAX.cylinders * CHS_MAX.heads * CHS_MAX.sectors;
/** QEMU's VHD_MAX_SECTORS: 2040 GiB. */
export const MAX_SECTORS = 0xff000000;

/** Seconds from the Unix epoch to 2000-01-01 00:00 UTC, the VHD timestamp's base. */
export const TIMESTAMP_BASE = 946684800;

/** Field offsets of the footer, big-endian (OTHER-FORMATS.md, checked against qemu-img's files). */
export const FOOTER = {
  cookie: 0,
  features: 8,
  version: 12,
  dataOffset: 16,
  timestamp: 24,
  creatorApp: 28,
  creatorVersion: 32,
  creatorOs: 36,
  originalSize: 40,
  currentSize: 48,
  cylinders: 56,
  heads: 58,
  sectors: 59,
  diskType: 60,
  checksum: 64,
  uuid: 68,
  savedState: 84,
} as const;

/** Field offsets of the dynamic disk header, big-endian. */
export const DYNAMIC = {
  cookie: 0,
  dataOffset: 8,
  tableOffset: 16,
  version: 24,
  maxTableEntries: 28,
  blockSize: 32,
  checksum: 36,
  /** A differencing disk's parent: the unique id of its footer (16 bytes). */
  parentUuid: 40,
  /** The parent's time stamp (seconds since 2000). */
  parentTimestamp: 56,
  /** The parent's file name, UTF-16 big-endian, 512 bytes. */
  parentName: 64,
  /** Eight parent locator entries of 24 bytes. */
  parentLocators: 576,
} as const;

/** The parent unicode name's size in the dynamic header. */
export const PARENT_NAME_SIZE = 512;

export interface VhdFooter {
  /** The 512 bytes as read, kept to be written back when a block is allocated. */
  bytes: Uint8Array;
  dataOffset: bigint;
  creatorApp: string;
  currentSize: bigint;
  cylinders: number;
  heads: number;
  sectors: number;
  diskType: number;
  checksum: number;
}

export interface DynamicHeader {
  tableOffset: bigint;
  maxTableEntries: number;
  blockSize: number;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** `strncmp(bytes + offset, text, text.length) == 0`. */
export function hasText(bytes: Uint8Array, offset: number, text: string): boolean {
  for (let i = 0; i < text.length; i++) if (bytes[offset + i] !== text.charCodeAt(i)) return false;
  return true;
}

/**
 * QEMU's vpc_checksum: the ones' complement of the byte sum, with the checksum field (4
 * bytes at `checksumAt`) counted as zero.
 */
export function vhdChecksum(bytes: Uint8Array, checksumAt: number): number {
  let sum = 0;
  for (let i = 0; i < bytes.length; i++) {
    if (i < checksumAt || i >= checksumAt + 4) sum += bytes[i] as number;
  }
  return ~sum >>> 0;
}

/** True when `sector` starts with the footer's cookie and its checksum is right. */
export function isValidFooter(sector: Uint8Array): boolean {
  return (
    sector.length >= FOOTER_SIZE &&
    hasText(sector, 0, FOOTER_COOKIE) &&
    vhdChecksum(sector.subarray(0, FOOTER_SIZE), FOOTER.checksum) === view(sector).getUint32(FOOTER.checksum)
  );
}

export function parseFooter(sector: Uint8Array): VhdFooter {
  const v = view(sector);
  return {
    bytes: sector.slice(0, FOOTER_SIZE),
    dataOffset: v.getBigUint64(FOOTER.dataOffset),
    creatorApp: String.fromCharCode(...sector.subarray(FOOTER.creatorApp, FOOTER.creatorApp + 4)),
    currentSize: v.getBigUint64(FOOTER.currentSize),
    cylinders: v.getUint16(FOOTER.cylinders),
    heads: sector[FOOTER.heads] as number,
    sectors: sector[FOOTER.sectors] as number,
    diskType: v.getUint32(FOOTER.diskType),
    checksum: v.getUint32(FOOTER.checksum),
  };
}

export function parseDynamicHeader(bytes: Uint8Array): DynamicHeader {
  // QEMU's vpc_open checks only the cookie (its checksum is not verified).
  if (!hasText(bytes, DYNAMIC.cookie, DYNAMIC_COOKIE)) throw new ImageFormatError('Invalid header magic');
  const v = view(bytes);
  return {
    tableOffset: v.getBigUint64(DYNAMIC.tableOffset),
    maxTableEntries: v.getUint32(DYNAMIC.maxTableEntries),
    blockSize: v.getUint32(DYNAMIC.blockSize),
  };
}

export type SizeCalculation = 'chs' | 'current_size';

/**
 * The virtual size in sectors, QEMU 7.2's rule (vpc_open): Virtual PC and QEMU's own `qemu`
 * images use the CHS product; Hyper-V (`win `), QEMU with force_size (`qem2`), disk2vhd
 * (`d2v `), XenServer (`tap\0`) and XenConverter (`CTXS`) the footer's current size, as does
 * any image whose geometry is the largest CHS (65535 x 16 x 255). `force` is the
 * `force_size_calc` open option.
 */
export function virtualSectors(footer: VhdFooter, force?: SizeCalculation): bigint {
  const chs = BigInt(footer.cylinders) * BigInt(footer.heads) * BigInt(footer.sectors);
  const app = footer.creatorApp;
  const currentSizeApp = app === 'win ' || app === 'qem2' || app === 'd2v ' || app === 'CTXS' || app === 'tap\0';
  const useChs = !currentSizeApp || force === 'chs';
  if (!useChs || chs === BigInt(MAX_GEOMETRY) || force === 'current_size') {
    return footer.currentSize / BigInt(SECTOR_SIZE);
  }
  return chs;
}

/** The geometry for `totalSectors`, QEMU's calculate_geometry (the VHD specification's algorithm). */
export function calculateGeometry(totalSectors: number): { cylinders: number; heads: number; sectors: number } {
  const total = Math.min(totalSectors, MAX_GEOMETRY);
  let sectors: number;
  let heads: number;
  let cylindersTimesHeads: number;
  if (total >= 65535 * 16 * 63) {
    sectors = 255;
    heads = 16;
    cylindersTimesHeads = Math.floor(total / sectors);
  } else {
    sectors = 17;
    cylindersTimesHeads = Math.floor(total / sectors);
    heads = Math.max(4, Math.ceil(cylindersTimesHeads / 1024));
    if (cylindersTimesHeads >= heads * 1024 || heads > 16) {
      sectors = 31;
      heads = 16;
      cylindersTimesHeads = Math.floor(total / sectors);
    }
    if (cylindersTimesHeads >= heads * 1024) {
      sectors = 63;
      heads = 16;
      cylindersTimesHeads = Math.floor(total / sectors);
    }
  }
  return { cylinders: Math.floor(cylindersTimesHeads / heads), heads, sectors };
}
