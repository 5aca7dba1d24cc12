import { ImageFormatError } from '@vdisk/core';

/** The header is read and written as one 512-byte sector (QEMU's VdiHeader). */
export const HEADER_SIZE = 512;
export const SECTOR_SIZE = 512;
export const SIGNATURE = 0xbeda107f;
export const VERSION_1_1 = 0x00010001;
/** QEMU's DEFAULT_CLUSTER_SIZE: the only block size it opens. */
export const BLOCK_SIZE = 1024 * 1024;
export const TYPE_DYNAMIC = 1;
export const TYPE_STATIC = 2;
/** Block map entry of a block that was never written: reads as zeros. */
export const UNALLOCATED = 0xffffffff;
/** Block map entry of a discarded block: also reads as zeros (QEMU's VDI_IS_ALLOCATED is `< DISCARDED`). */
export const DISCARDED = 0xfffffffe;
/**
 * QEMU's VDI_BLOCKS_IN_IMAGE_MAX: BDRV_REQUEST_MAX_BYTES / 4, so that the block map can be
 * read in one request (0x1fffff80).
 */
export const BLOCKS_IN_IMAGE_MAX = Math.floor((0x3fffff * 512) / 4);
/** QEMU's VDI_DISK_SIZE_MAX. */
export const DISK_SIZE_MAX = BigInt(BLOCKS_IN_IMAGE_MAX) * BigInt(BLOCK_SIZE);
/** The text QEMU writes at offset 0. */
export const QEMU_TEXT = '<<< QEMU VM Virtual Disk Image >>>\n';

/** Field offsets, little-endian (OTHER-FORMATS.md, checked against qemu-img's files). */
export const FIELD = {
  text: 0,
  signature: 64,
  version: 68,
  headerSize: 72,
  imageType: 76,
  imageFlags: 80,
  description: 84,
  offsetBmap: 340,
  offsetData: 344,
  cylinders: 348,
  heads: 352,
  sectors: 356,
  sectorSize: 360,
  diskSize: 368,
  blockSize: 376,
  blockExtra: 380,
  blocksInImage: 384,
  blocksAllocated: 388,
  uuidImage: 392,
  uuidLastSnap: 408,
  uuidLink: 424,
  uuidParent: 440,
} as const;

export interface VdiHeader {
  /** The sector as read: written back, with `blocksAllocated`, when a block is allocated. */
  bytes: Uint8Array;
  imageType: number;
  offsetBmap: number;
  offsetData: number;
  /** The disk size rounded up to a sector, as QEMU rounds it. */
  diskSize: number;
  blockSize: number;
  blocksInImage: number;
  blocksAllocated: number;
}

const isAllZero = (bytes: Uint8Array) => bytes.every((b) => b === 0);

/** The signature at 64 (vdi_probe's test). */
export function hasSignature(sector: Uint8Array): boolean {
  return (
    sector.length >= HEADER_SIZE && new DataView(sector.buffer, sector.byteOffset).getUint32(64, true) === SIGNATURE
  );
}

/** QEMU's -ENOTSUP cases: the image is not one vdisk (or QEMU) can read. */
const unsupported = (message: string) => new ImageFormatError(message);
const hex = (n: number | bigint) => n.toString(16);

/** vdi_open's checks, in its order, with its messages. */
export function parseHeader(sector: Uint8Array): VdiHeader {
  const v = new DataView(sector.buffer, sector.byteOffset, HEADER_SIZE);
  let diskSize = v.getBigUint64(FIELD.diskSize, true);
  if (diskSize > DISK_SIZE_MAX) {
    throw unsupported(
      `Unsupported VDI image size (size is 0x${hex(diskSize)}, max supported is 0x${hex(DISK_SIZE_MAX)})`,
    );
  }
  // 'VBoxManage convertfromraw' makes odd sizes: QEMU rounds them up to a sector.
  if (diskSize % 512n !== 0n) diskSize += 512n - (diskSize % 512n);

  const signature = v.getUint32(FIELD.signature, true);
  const version = v.getUint32(FIELD.version, true);
  const offsetBmap = v.getUint32(FIELD.offsetBmap, true);
  const offsetData = v.getUint32(FIELD.offsetData, true);
  const sectorSize = v.getUint32(FIELD.sectorSize, true);
  const blockSize = v.getUint32(FIELD.blockSize, true);
  const blocksInImage = v.getUint32(FIELD.blocksInImage, true);
  const room = BigInt(blocksInImage) * BigInt(blockSize);
  if (signature !== SIGNATURE) {
    throw new ImageFormatError(`Image not in VDI format (bad signature ${hex(signature).padStart(8, '0')})`);
  }
  if (version !== VERSION_1_1) {
    throw unsupported(`unsupported VDI image (version ${version >>> 16}.${version & 0xffff})`);
  }
  if (offsetBmap % SECTOR_SIZE !== 0) {
    throw unsupported(`unsupported VDI image (unaligned block map offset 0x${hex(offsetBmap)})`);
  }
  if (offsetData % SECTOR_SIZE !== 0) {
    throw unsupported(`unsupported VDI image (unaligned data offset 0x${hex(offsetData)})`);
  }
  if (sectorSize !== SECTOR_SIZE) {
    throw unsupported(`unsupported VDI image (sector size ${sectorSize} is not ${SECTOR_SIZE})`);
  }
  if (blockSize !== BLOCK_SIZE) {
    throw unsupported(`unsupported VDI image (block size ${blockSize} is not ${BLOCK_SIZE})`);
  }
  if (diskSize > room) {
    throw unsupported(`unsupported VDI image (disk size ${diskSize}, image bitmap has room for ${room})`);
  }
  if (!isAllZero(sector.subarray(FIELD.uuidLink, FIELD.uuidLink + 16))) {
    throw unsupported('unsupported VDI image (non-NULL link UUID)');
  }
  if (!isAllZero(sector.subarray(FIELD.uuidParent, FIELD.uuidParent + 16))) {
    throw unsupported('unsupported VDI image (non-NULL parent UUID)');
  }
  if (blocksInImage > BLOCKS_IN_IMAGE_MAX) {
    throw unsupported(`unsupported VDI image (too many blocks ${blocksInImage}, max is ${BLOCKS_IN_IMAGE_MAX})`);
  }
  return {
    bytes: sector.slice(0, HEADER_SIZE),
    imageType: v.getUint32(FIELD.imageType, true),
    offsetBmap,
    offsetData,
    diskSize: Number(diskSize),
    blockSize,
    blocksInImage,
    blocksAllocated: v.getUint32(FIELD.blocksAllocated, true),
  };
}
