import {
  type BackingReference,
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  type CreateOptions,
  type DriverOpenOptions,
  exactOffset,
  ImageFormatError,
  InvalidArgumentError,
  type ProbeContext,
  type WriteOptions,
  type ZeroOptions,
} from '@vdisk/core';
import { createImage } from './create-image.js';
import {
  DISK_DIFFERENCING,
  DISK_FIXED,
  DYNAMIC,
  DYNAMIC_HEADER_SIZE,
  FOOTER,
  FOOTER_COOKIE,
  FOOTER_SIZE,
  hasText,
  isValidFooter,
  MAX_SECTORS,
  parseDynamicHeader,
  parseFooter,
  SECTOR_SIZE,
  type SizeCalculation,
  UNALLOCATED,
  vhdChecksum,
  virtualSectors,
} from './footer.js';
import { readParentName } from './parent-locator.js';
import { type DynamicLayout, type ParentIdentity, VpcImage } from './vpc-image.js';

/** The open options of QEMU's vpc driver. */
const OPEN_OPTIONS = ['force_size_calc'];

/** QEMU's bdrv_check_request limit: a read at or past 2^63 fails rather than reading zeros. */
const MAX_REQUEST_END = 2n ** 63n;

/** VHD (Virtual PC, Hyper-V) images, fixed, dynamic (QEMU 7.2's block/vpc.c) and differencing. */
export class VpcDriver implements BlockDriver<VpcImage> {
  readonly name = 'vpc';
  readonly description = 'Virtual PC / Hyper-V disk image (VHD), fixed, dynamic and differencing';

  /**
   * 100 for the footer's cookie `conectix` in the first sector with a right checksum (a
   * dynamic image's footer copy), 50 with a wrong checksum (QEMU's vpc_probe says 100 on the
   * cookie alone; open then fails with QEMU's `Incorrect header checksum`). A fixed image has
   * its footer only in the last sector, where QEMU never looks (it guesses raw): vdisk scores
   * it 100 when that footer's checksum is right and its disk type is fixed.
   */
  probe(firstSector: Uint8Array, context?: ProbeContext): number {
    if (hasText(firstSector, 0, FOOTER_COOKIE)) return isValidFooter(firstSector) ? 100 : 50;
    const last = context?.lastSector;
    if (last && isValidFooter(last) && parseFooter(last).diskType === DISK_FIXED) return 100;
    return 0;
  }

  /** vpc_open: its checks in its order, with its messages. */
  async open(source: ByteSource, { writable, options }: DriverOpenOptions): Promise<VpcImage> {
    const sizeCalculation = parseOpenOptions(options);

    const first = new Uint8Array(FOOTER_SIZE);
    await source.read(first, 0);
    let sector = first;
    let foundAtStart = true;
    if (!hasText(first, 0, FOOTER_COOKIE)) {
      if (source.size < FOOTER_SIZE) throw new ImageFormatError('File too small for a VHD header');
      // A fixed disk has its footer only at the end of the file.
      const last = new Uint8Array(FOOTER_SIZE);
      await source.read(last, source.size - FOOTER_SIZE);
      if (!hasText(last, 0, FOOTER_COOKIE) || parseFooter(last).diskType !== DISK_FIXED) {
        throw new ImageFormatError('invalid VPC image');
      }
      sector = last;
      foundAtStart = false;
    }
    const footer = parseFooter(sector);
    if (vhdChecksum(sector, FOOTER.checksum) !== footer.checksum) {
      throw new ImageFormatError('Incorrect header checksum');
    }

    const totalSectors = virtualSectors(footer, sizeCalculation);
    // QEMU allows 2040 GiB; beyond, its -EFBIG reads "File too large".
    if (totalSectors > BigInt(MAX_SECTORS)) throw new ImageFormatError('File too large');
    const virtualSize = Number(totalSectors) * SECTOR_SIZE;
    const opened = foundAtStart ? await openDynamic(source, footer.dataOffset, virtualSize) : undefined;
    const dynamic = opened?.layout;
    // A differencing disk is a dynamic one whose parent's sectors show through (QEMU 7.2
    // reads it as dynamic, without the parent: see the README).
    const parent =
      opened && footer.diskType === DISK_DIFFERENCING
        ? await openParent(source, opened.header, opened.layout)
        : undefined;
    if (writable) {
      // Writing must not overwrite a footer: a fixed image's data ends where its footer
      // starts, and a footer at offset 0 that says "fixed" has no data area vdisk can trust.
      const fixed = footer.diskType === DISK_FIXED;
      if (fixed && (foundAtStart || virtualSize > source.size - FOOTER_SIZE)) {
        throw new ImageFormatError('Cannot write this fixed VHD: its data area is smaller than its virtual size');
      }
    }
    return new VpcImage(source, footer, virtualSize, dynamic, writable, parent);
  }

  write(image: VpcImage, offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    return image.write(offset, buffers, options);
  }

  flush(image: VpcImage): Promise<void> {
    return image.flush();
  }

  zero(image: VpcImage, offset: number, length: number, _options?: ZeroOptions): Promise<void> {
    return image.zero(offset, length);
  }

  create(target: ByteSource, options: CreateOptions): Promise<void> {
    return createImage(target, options);
  }

  blockStatus(image: VpcImage, offset: number, length: number): Promise<BlockStatusRun[]> {
    return image.blockStatus(offset, length);
  }
}

function parseOpenOptions(options: Readonly<Record<string, string>>): SizeCalculation | undefined {
  for (const key of Object.keys(options)) {
    if (!OPEN_OPTIONS.includes(key)) {
      throw new InvalidArgumentError(`Block format 'vpc' does not support the option '${key}'`);
    }
  }
  const mode = options.force_size_calc;
  if (mode === undefined) return undefined;
  if (mode !== 'chs' && mode !== 'current_size') {
    throw new InvalidArgumentError(`Invalid size calculation mode: ${mode}`);
  }
  return mode;
}

/**
 * A differencing disk's parent: its name from the locators (checked to lie in the file) or
 * the header's unicode name, as a VHD (the specification's only parent), and the unique id
 * and time stamp it was made against. New blocks go after the locators' data.
 */
async function openParent(
  source: ByteSource,
  header: Uint8Array,
  layout: DynamicLayout,
): Promise<{ reference: BackingReference; identity: ParentIdentity }> {
  const name = await readParentName(header, source.size, (buffer, position) => source.read(buffer, position));
  layout.freeDataBlockOffset = Math.max(layout.freeDataBlockOffset, name.locatorsEnd);
  const view = new DataView(header.buffer, header.byteOffset, header.byteLength);
  return {
    reference: { filename: name.filename, format: 'vpc' },
    identity: {
      uuid: header.slice(DYNAMIC.parentUuid, DYNAMIC.parentUuid + 16),
      timestamp: view.getUint32(DYNAMIC.parentTimestamp),
      from: name.from,
    },
  };
}

/** The dynamic disk header and the BAT, with vpc_open's checks and messages. */
async function openDynamic(
  source: ByteSource,
  headerOffset: bigint,
  virtualSize: number,
): Promise<{ layout: DynamicLayout; header: Uint8Array }> {
  if (headerOffset + BigInt(DYNAMIC_HEADER_SIZE) > MAX_REQUEST_END) {
    throw new ImageFormatError('Error reading dynamic VHD header');
  }
  const headerBytes = new Uint8Array(DYNAMIC_HEADER_SIZE);
  // Past the end of the file it reads as zeros (so: `Invalid header magic`), as in QEMU.
  if (headerOffset < BigInt(source.size)) await source.read(headerBytes, Number(headerOffset));
  const header = parseDynamicHeader(headerBytes);

  const { blockSize } = header;
  if (blockSize < SECTOR_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new ImageFormatError(`Invalid block size ${blockSize}`);
  }
  const bitmapSize = (Math.floor(blockSize / (8 * 512)) + 511) & ~511;
  // QEMU holds max_table_entries in an int: a value of 2^31 or more is negative there.
  const entries = header.maxTableEntries;
  const signedEntries = entries | 0;
  if (Math.floor(virtualSize / blockSize) > 0xffffffff) throw new ImageFormatError('Too many blocks');
  if (signedEntries >= 0 && entries * blockSize < virtualSize) throw new ImageFormatError('Page table too small');
  if (signedEntries < 0 || entries > 0x1fffffff) {
    throw new ImageFormatError(`Max Table Entries too large (${signedEntries})`);
  }

  // The BAT ends before QEMU's free_data_block_offset, which may not pass the end of the
  // file: checking that first keeps the BAT's allocation bounded by the file's size.
  const truncated = () =>
    new ImageFormatError(
      'block-vpc: free_data_block_offset points after the end of file. The image has been truncated.',
    );
  const batEnd = header.tableOffset + BigInt(entries * 4);
  const roundUp = (n: bigint) => ((n + 511n) / 512n) * 512n;
  if (roundUp(batEnd) > BigInt(source.size)) throw truncated();
  const batOffset = exactOffset(header.tableOffset, 'BAT offset');
  const raw = new Uint8Array(entries * 4);
  await source.read(raw, batOffset);
  const view = new DataView(raw.buffer);
  const bat = new Uint32Array(entries);
  let freeDataBlockOffset = Number(roundUp(batEnd));
  for (let i = 0; i < entries; i++) {
    const sector = view.getUint32(i * 4);
    bat[i] = sector;
    if (sector !== UNALLOCATED) {
      const next = sector * SECTOR_SIZE + bitmapSize + blockSize;
      if (next > freeDataBlockOffset) freeDataBlockOffset = next;
    }
  }
  if (freeDataBlockOffset > source.size) throw truncated();
  return {
    layout: { blockSize, bitmapSize, batOffset, batEntries: entries, bat, freeDataBlockOffset },
    header: headerBytes,
  };
}
