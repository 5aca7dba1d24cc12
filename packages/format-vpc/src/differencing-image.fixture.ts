/**
 * Differencing VHDs (and their dynamic parents) written byte by byte from Microsoft's VHD
 * specification 1.0, without the driver's code, so that the driver is checked against the
 * spec rather than against itself: the footer (type 4), the dynamic header with the parent's
 * unique id, time stamp, unicode name and locators, the BAT, each block's sector bitmap
 * (most significant bit first: bit set = the sector is the child's) and data.
 */

const SECTOR = 512;

export interface CraftedLocator {
  /** Platform code, 4 characters: `W2ru`, `W2ku`, `MacX`. */
  code: string;
  /** The locator's data as stored. */
  data: Uint8Array;
}

export interface CraftedSector {
  /** The virtual sector (512-byte unit) of the disk. */
  sector: number;
  data: Uint8Array;
}

export interface CraftedImage {
  virtualSize: number;
  /** Block size, a power of two (2 MiB as Windows writes it; smaller keeps tests small). */
  blockSize: number;
  /** 4 = differencing, 3 = dynamic. */
  diskType: 3 | 4;
  /** The image's own footer unique id. */
  uuid: Uint8Array;
  parentUuid?: Uint8Array;
  parentTimestamp?: number;
  parentName?: string;
  locators?: CraftedLocator[];
  /** Sectors the image holds (their bitmap bits set); other sectors of their blocks keep clear bits and `filler` bytes. */
  sectors: CraftedSector[];
  /** Blocks allocated with every bit clear (all their sectors read from the parent). */
  emptyBlocks?: number[];
  /** What the unwritten bytes of an allocated block hold (default 0xee: never what a reader should return). */
  filler?: number;
}

function be32(bytes: Uint8Array, at: number, value: number): void {
  new DataView(bytes.buffer, bytes.byteOffset).setUint32(at, value);
}

function be64(bytes: Uint8Array, at: number, value: bigint): void {
  new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(at, value);
}

function ascii(bytes: Uint8Array, at: number, text: string): void {
  for (let i = 0; i < text.length; i++) bytes[at + i] = text.charCodeAt(i);
}

/** The spec's checksum: the ones' complement of the sum of all bytes, the checksum field taken as zero. */
function checksum(bytes: Uint8Array, field: number): number {
  let sum = 0;
  bytes.forEach((byte, i) => {
    if (i < field || i >= field + 4) sum += byte;
  });
  return ~sum >>> 0;
}

/** UTF-16 of `text`, little- or big-endian. */
export function utf16(text: string, littleEndian: boolean): Uint8Array {
  const out = new Uint8Array(text.length * 2);
  for (let i = 0; i < text.length; i++) new DataView(out.buffer).setUint16(i * 2, text.charCodeAt(i), littleEndian);
  return out;
}

export function footerOf(image: CraftedImage): Uint8Array {
  const footer = new Uint8Array(SECTOR);
  ascii(footer, 0, 'conectix');
  be32(footer, 8, 2);
  be32(footer, 12, 0x00010000);
  be64(footer, 16, 512n);
  be32(footer, 24, 0x2a2a2a2a);
  ascii(footer, 28, 'win '); // Hyper-V: the size is the current size
  be32(footer, 32, 0x00060001);
  ascii(footer, 36, 'Wi2k');
  be64(footer, 40, BigInt(image.virtualSize));
  be64(footer, 48, BigInt(image.virtualSize));
  new DataView(footer.buffer).setUint16(56, 1024);
  footer[58] = 16;
  footer[59] = 63;
  be32(footer, 60, image.diskType);
  footer.set(image.uuid, 68);
  be32(footer, 64, checksum(footer, 64));
  return footer;
}

/** The whole file. */
export function craftImage(image: CraftedImage): Uint8Array {
  const { blockSize } = image;
  const sectorsPerBlock = blockSize / SECTOR;
  const bitmapBytes = Math.ceil(sectorsPerBlock / 8 / SECTOR) * SECTOR;
  const entries = Math.ceil(image.virtualSize / blockSize);
  const locators = image.locators ?? [];
  // Layout: footer copy, header, the locators' data (a sector each, or more), the BAT, blocks, footer.
  let at = 3 * SECTOR;
  const locatorAt = locators.map((locator) => {
    const here = at;
    at += Math.max(1, Math.ceil(locator.data.length / SECTOR)) * SECTOR;
    return here;
  });
  const batAt = at;
  const batBytes = Math.ceil((entries * 4) / SECTOR) * SECTOR;
  at += batBytes;
  const blocks = new Set<number>(image.emptyBlocks ?? []);
  for (const { sector } of image.sectors) blocks.add(Math.floor(sector / sectorsPerBlock));
  const order = [...blocks].sort((a, b) => b - a); // laid out in reverse: the BAT is not the identity
  const blockAt = new Map<number, number>();
  for (const index of order) {
    blockAt.set(index, at);
    at += bitmapBytes + blockSize;
  }
  const file = new Uint8Array(at + SECTOR);
  const footer = footerOf(image);
  file.set(footer, 0);
  file.set(footer, at);

  const header = new Uint8Array(1024);
  ascii(header, 0, 'cxsparse');
  be64(header, 8, 0xffffffffffffffffn);
  be64(header, 16, BigInt(batAt));
  be32(header, 24, 0x00010000);
  be32(header, 28, entries);
  be32(header, 32, blockSize);
  if (image.parentUuid) header.set(image.parentUuid, 40);
  be32(header, 56, image.parentTimestamp ?? 0);
  if (image.parentName !== undefined) header.set(utf16(image.parentName, false).subarray(0, 512), 64);
  locators.forEach((locator, i) => {
    const entry = 576 + i * 24;
    ascii(header, entry, locator.code);
    be32(header, entry + 4, Math.max(1, Math.ceil(locator.data.length / SECTOR)));
    be32(header, entry + 8, locator.data.length);
    be64(header, entry + 16, BigInt(locatorAt[i] as number));
    file.set(locator.data, locatorAt[i] as number);
  });
  be32(header, 36, checksum(header, 36));
  file.set(header, SECTOR);

  file.fill(0xff, batAt, batAt + batBytes);
  for (const [index, where] of blockAt) {
    be32(file, batAt + index * 4, where / SECTOR);
    file.fill(image.filler ?? 0xee, where + bitmapBytes, where + bitmapBytes + blockSize);
  }
  for (const { sector, data } of image.sectors) {
    const index = Math.floor(sector / sectorsPerBlock);
    const within = sector % sectorsPerBlock;
    const where = blockAt.get(index) as number;
    file[where + (within >> 3)] = (file[where + (within >> 3)] as number) | (0x80 >> (within & 7));
    file.set(data.subarray(0, SECTOR), where + bitmapBytes + within * SECTOR);
  }
  return file;
}

/** The disk a crafted child shows over `parentDisk` (the parent's virtual disk): its sectors over the parent's. */
export function mergedDisk(image: CraftedImage, parentDisk: Uint8Array): Uint8Array {
  const disk = new Uint8Array(image.virtualSize);
  disk.set(parentDisk.subarray(0, image.virtualSize));
  for (const { sector, data } of image.sectors) disk.set(data.subarray(0, SECTOR), sector * SECTOR);
  return disk;
}

/** A sector of bytes that names its sector and a tag, never all zeros. */
export function sectorPattern(sector: number, tag: number): Uint8Array {
  const data = new Uint8Array(SECTOR);
  for (let i = 0; i < SECTOR; i++) data[i] = ((sector * 13 + i * 7 + tag * 29) % 251) + 1;
  return data;
}

/** A dynamic image's (type 3) disk as the spec and QEMU read it: an allocated block whole (its `filler`, then its sectors), zeros elsewhere. */
export function dynamicDisk(image: CraftedImage): Uint8Array {
  const disk = new Uint8Array(image.virtualSize);
  const blocks = new Set<number>(image.emptyBlocks ?? []);
  for (const { sector } of image.sectors) blocks.add(Math.floor((sector * SECTOR) / image.blockSize));
  for (const index of blocks) {
    const start = index * image.blockSize;
    disk.fill(image.filler ?? 0xee, start, Math.min(image.virtualSize, start + image.blockSize));
  }
  for (const { sector, data } of image.sectors) disk.set(data.subarray(0, SECTOR), sector * SECTOR);
  return disk;
}
