import { ImageFormatError, UnsafeOffsetError } from '@vdisk/core';

export const SECTOR_SIZE = 512;
export const HEADER_SIZE = 512;
/** QEMU's DESC_SIZE: the embedded descriptor is read as 20 sectors from 0x200. */
export const DESCRIPTOR_SIZE = 20 * SECTOR_SIZE;
export const DESCRIPTOR_OFFSET = 0x200;
/** A grain table entry that means "reads as zeros" when the zeroed-grain flag is set (VMDK_GTE_ZEROED). */
export const ZEROED_GRAIN = 1;

export const FLAG_NL_DETECT = 1 << 0;
/** A redundant grain directory is present. */
export const FLAG_RGD = 1 << 1;
/** Grain table entries of 1 mean zeroed grains. */
export const FLAG_ZERO_GRAIN = 1 << 2;
export const FLAG_COMPRESS = 1 << 16;
export const FLAG_MARKER = 1 << 17;
/** streamOptimized: the grain directory is in a footer at the end. */
export const GD_AT_END = 0xffffffffffffffffn;

/** Field offsets of the sparse extent header, little-endian (checked against qemu-img's and bximage's files). */
export const FIELD = {
  magic: 0,
  version: 4,
  flags: 8,
  capacity: 12,
  granularity: 20,
  descriptorOffset: 28,
  descriptorSize: 36,
  gtesPerGt: 44,
  rgdOffset: 48,
  gdOffset: 56,
  grainOffset: 64,
  uncleanShutdown: 72,
  newlineCheck: 73,
  compressAlgorithm: 77,
} as const;

export interface SparseHeader {
  version: number;
  flags: number;
  /** Virtual size in sectors. */
  capacity: number;
  /** Grain size in sectors (QEMU's cluster_sectors). */
  granularity: number;
  gtesPerGt: number;
  /** Byte offset of the grain directory, as QEMU computes it (`gd_offset << 9`, 64-bit). */
  gdOffset: bigint;
  /** Byte offset of the redundant grain directory, or 0 when the flag is clear. */
  rgdOffset: bigint;
  /** Entries in the grain directory (QEMU's l1_size). */
  gdEntries: number;
  /** Sectors of virtual disk that one grain table covers. */
  sectorsPerGt: number;
  grainOffset: bigint;
  zeroedGrains: boolean;
}

const MASK_32 = 0xffffffffn;
const MASK_64 = 0xffffffffffffffffn;

export function isSparseMagic(sector: Uint8Array): boolean {
  return sector[0] === 0x4b && sector[1] === 0x44 && sector[2] === 0x4d && sector[3] === 0x56; // "KDMV"
}

export function isCowdMagic(sector: Uint8Array): boolean {
  return sector[0] === 0x43 && sector[1] === 0x4f && sector[2] === 0x57 && sector[3] === 0x44; // "COWD"
}

/**
 * QEMU's vmdk_probe for a text descriptor: comment lines and blank lines, then
 * `version=1`, `2` or `3` (and a newline, or CR LF) scores 100.
 */
export function isDescriptorText(sector: Uint8Array): boolean {
  let p = 0;
  const end = sector.length;
  const at = (i: number) => sector[i] as number;
  const startsWith = (text: string) => {
    if (end - p < text.length) return false;
    for (let i = 0; i < text.length; i++) if (at(p + i) !== text.charCodeAt(i)) return false;
    return true;
  };
  while (p < end) {
    if (at(p) === 0x23) {
      while (p < end && at(p) !== 0x0a) p++;
      p++;
      continue;
    }
    if (at(p) === 0x20) {
      while (p < end && at(p) === 0x20) p++;
      if (p < end && at(p) === 0x0d) p++;
      if (p === end || at(p) !== 0x0a) return false;
      p++;
      continue;
    }
    for (const version of ['1', '2', '3']) {
      if (startsWith(`version=${version}\n`) || startsWith(`version=${version}\r\n`)) return true;
    }
    return false;
  }
  return false;
}

/**
 * vmdk_open_vmdk4's checks on the header, in its order and with its messages, with QEMU's
 * integer widths: the grain table's coverage and the directory's entry count are 32-bit
 * there, `gd_offset << 9` is 64-bit.
 */
export function parseSparseHeader(sector: Uint8Array, fileSize: number, writable: boolean): SparseHeader {
  const v = new DataView(sector.buffer, sector.byteOffset, HEADER_SIZE);
  const version = v.getUint32(FIELD.version, true);
  const flags = v.getUint32(FIELD.flags, true);
  const capacity = v.getBigUint64(FIELD.capacity, true);
  const granularity = v.getBigUint64(FIELD.granularity, true);
  const gtesPerGt = v.getUint32(FIELD.gtesPerGt, true);
  const gdOffsetField = v.getBigUint64(FIELD.gdOffset, true);
  const grainOffset = v.getBigUint64(FIELD.grainOffset, true);

  if (version > 3) throw new ImageFormatError(`Unsupported VMDK version ${version}`);
  if (version === 3 && writable) throw new ImageFormatError('VMDK version 3 must be read only');
  if (gtesPerGt > 512) throw new ImageFormatError('L2 table size too big');
  const sectorsPerGt = Number((BigInt(gtesPerGt) * granularity) & MASK_32);
  if (sectorsPerGt === 0) throw new ImageFormatError('L1 entry size is invalid');
  const gdEntries = Number(((capacity + BigInt(sectorsPerGt) - 1n) & MASK_64) / BigInt(sectorsPerGt)) >>> 0;
  const rgdOffset = flags & FLAG_RGD ? (v.getBigUint64(FIELD.rgdOffset, true) << 9n) & MASK_64 : 0n;
  const fileSectors = BigInt(Math.ceil(fileSize / SECTOR_SIZE));
  if (fileSectors < grainOffset) {
    const expected = BigInt.asIntN(64, grainOffset * 512n);
    throw new ImageFormatError(`File truncated, expecting at least ${expected} bytes`);
  }
  if (granularity > 0x200000n) throw new ImageFormatError('Invalid granularity, image may be corrupt');
  if (gdEntries > 32 * 1024 * 1024) throw new ImageFormatError('L1 size too big');
  if (capacity * 512n > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new UnsafeOffsetError(
      `Virtual size of ${capacity} sectors is beyond 2^53 bytes and cannot be handled exactly`,
    );
  }
  return {
    version,
    flags,
    capacity: Number(capacity),
    granularity: Number(granularity),
    gtesPerGt,
    gdOffset: (gdOffsetField << 9n) & MASK_64,
    rgdOffset,
    gdEntries,
    sectorsPerGt,
    grainOffset,
    zeroedGrains: (flags & FLAG_ZERO_GRAIN) !== 0,
  };
}

/** The embedded descriptor's text as QEMU's strstr sees it: up to the first NUL. */
export function descriptorText(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder('latin1').decode(end === -1 ? bytes.subarray(0, bytes.length - 1) : bytes.subarray(0, end));
}

/**
 * vmdk_read_cid: the hex number after the first `CID=` (or `parentCID=`) in the descriptor,
 * found by strstr, read by sscanf("%x"). Undefined where QEMU fails the open (EINVAL).
 */
export function readCid(text: string, parent: boolean): number | undefined {
  const key = parent ? 'parentCID' : 'CID';
  const at = text.indexOf(key);
  if (at === -1) return undefined;
  // sizeof("CID") counts the NUL: QEMU skips the key and one more character (the '=').
  const match = /^\s*(?:0[xX])?([0-9a-fA-F]+)/.exec(text.slice(at + key.length + 1));
  if (!match) return undefined;
  // glibc converts with strtoul (saturating at 2^64 - 1) and keeps the low 32 bits.
  const value = BigInt(`0x${match[1]}`);
  return value > MASK_64 ? 0xffffffff : Number(value & MASK_32);
}

/** The value of `createType="..."` in a descriptor, if any. */
export function createTypeOf(text: string): string | undefined {
  return /createType\s*=\s*"([^"]*)"/.exec(text)?.[1];
}

/** The `parentFileNameHint="..."` of a descriptor (vmdk_parent_open), if any. */
export function parentHintOf(text: string): string | undefined {
  const at = text.indexOf('parentFileNameHint');
  if (at === -1) return undefined;
  const start = at + 'parentFileNameHint'.length + 2;
  const end = text.indexOf('"', start);
  return end === -1 ? undefined : text.slice(start, end);
}
