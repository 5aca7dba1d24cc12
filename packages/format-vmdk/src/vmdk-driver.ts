import {
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  type CheckReport,
  type CreateOptions,
  type DriverOpenOptions,
  type FormatSpecificInfo,
  ImageFormatError,
  InvalidArgumentError,
  type WriteOptions,
  type ZeroOptions,
} from '@vdisk/core';
import { checkImage } from './check.js';
import { createImage } from './create-image.js';
import {
  createTypeOf,
  DESCRIPTOR_OFFSET,
  DESCRIPTOR_SIZE,
  descriptorText,
  FIELD,
  GD_AT_END,
  HEADER_SIZE,
  isCowdMagic,
  isDescriptorText,
  isSparseMagic,
  parentHintOf,
  parseSparseHeader,
  readCid,
} from './header.js';
import { readEntries, VmdkImage } from './vmdk-image.js';

/** The one layout vdisk reads and writes. */
export const MONOLITHIC_SPARSE = 'monolithicSparse';

/** QEMU's bdrv_check_request limit: a read at or past 2^63 fails. */
const MAX_REQUEST = 2n ** 63n;

/** VMware VMDK monolithicSparse images (version 1 to 3): after QEMU 7.2's block/vmdk.c. */
export class VmdkDriver implements BlockDriver<VmdkImage> {
  readonly name = 'vmdk';
  readonly description = 'VMware disk image (VMDK), monolithicSparse';
  /** A VMDK may name a parent (QEMU's vmdk supports_backing): its holes are not present in the map. */
  readonly supportsBacking = true;

  /**
   * 100 for the sparse magic `KDMV` or the old `COWD`, or for a text descriptor (comment and
   * blank lines, then `version=1|2|3`), as vmdk_probe; else 0. The format has no checksum.
   * Only monolithicSparse opens: the others are refused at open with their create type.
   */
  probe(firstSector: Uint8Array): number {
    return isSparseMagic(firstSector) || isCowdMagic(firstSector) || isDescriptorText(firstSector) ? 100 : 0;
  }

  /** vmdk_open for a monolithicSparse file: vmdk_open_vmdk4's checks, in its order, with its messages. */
  async open(source: ByteSource, { writable, options }: DriverOpenOptions): Promise<VmdkImage> {
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'vmdk' does not support the option '${unknown}'`);
    }
    if (source.size < 4) throw new ImageFormatError('File is too small, not a valid image');
    const sector = new Uint8Array(HEADER_SIZE);
    await source.read(sector, 0);
    if (isCowdMagic(sector)) {
      throw new ImageFormatError('VMDK version 3 sparse images (COWD) are not supported: only monolithicSparse');
    }
    if (!isSparseMagic(sector)) {
      // A text descriptor whose extents are other files (twoGbMaxExtentSparse, monolithicFlat...).
      const text = descriptorText(sector);
      const type = createTypeOf(text) ?? 'unknown';
      throw new ImageFormatError(`Unsupported VMDK create type '${type}': vdisk reads only ${MONOLITHIC_SPARSE}`);
    }
    const view = new DataView(sector.buffer);
    const descriptor = new Uint8Array(DESCRIPTOR_SIZE);
    await source.read(descriptor, DESCRIPTOR_OFFSET);
    const text = descriptorText(descriptor);
    if (view.getBigUint64(FIELD.capacity, true) === 0n && view.getBigUint64(FIELD.descriptorOffset, true) !== 0n) {
      // The extents are named by the embedded descriptor: QEMU's words for this case.
      throw new ImageFormatError(`Unsupported image type '${createTypeOf(text) ?? ''}'`);
    }
    if (view.getBigUint64(FIELD.gdOffset, true) === GD_AT_END) {
      throw new ImageFormatError(
        `Unsupported VMDK create type 'streamOptimized': vdisk reads only ${MONOLITHIC_SPARSE}`,
      );
    }
    const header = parseSparseHeader(sector, source.size, writable);
    if (view.getUint16(FIELD.compressAlgorithm, true) === 1) {
      throw new ImageFormatError(
        `Unsupported VMDK create type 'streamOptimized' (compressed grains): vdisk reads only ${MONOLITHIC_SPARSE}`,
      );
    }

    if (header.gdOffset >= MAX_REQUEST) throw new ImageFormatError('Could not read l1 table from extent');
    const gd = await readEntries(source, header.gdOffset, header.gdEntries);
    let rgd: Uint32Array | undefined;
    if (header.rgdOffset !== 0n) {
      if (header.rgdOffset >= MAX_REQUEST) throw new ImageFormatError('Could not read l1 backup table from extent');
      rgd = await readEntries(source, header.rgdOffset, header.gdEntries);
    }

    // vmdk_parent_open: the parent is a VMDK named by the descriptor; core opens it (read-only)
    // and reads through it where this image holds nothing. A new grain over a parent would
    // need the parent's bytes around what is written (QEMU's get_whole_cluster): vdisk does
    // not write such images.
    const parent = parentHintOf(text);
    if (parent !== undefined && writable) {
      throw new ImageFormatError(`Cannot write a VMDK image over a parent ('${parent}'): vdisk reads it only`);
    }
    const cid = readCid(text, false);
    const parentCid = readCid(text, true);
    if (cid === undefined || parentCid === undefined) throw new ImageFormatError('Invalid argument');
    if (writable && (gd.length < header.gdEntries || (rgd && rgd.length < header.gdEntries))) {
      throw new ImageFormatError(
        'Cannot write this VMDK image: its grain directory is cut short by the end of the file',
      );
    }
    const image = new VmdkImage(source, header, rgd ? { gd, rgd } : { gd }, { cid, parentCid }, writable);
    if (parent !== undefined) image.backing = { filename: parent, format: 'vmdk' };
    return image;
  }

  write(image: VmdkImage, offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    return image.write(offset, buffers, options);
  }

  flush(image: VmdkImage): Promise<void> {
    return image.flush();
  }

  zero(image: VmdkImage, offset: number, length: number, _options?: ZeroOptions): Promise<void> {
    return image.zero(offset, length);
  }

  create(target: ByteSource, options: CreateOptions): Promise<void> {
    return createImage(target, options);
  }

  blockStatus(image: VmdkImage, offset: number, length: number): Promise<BlockStatusRun[]> {
    return image.blockStatus(offset, length);
  }

  /** qemu-img info's vmdk keys (its `extents` list is left out: one extent, the file itself). */
  info(image: VmdkImage): FormatSpecificInfo {
    return {
      type: 'vmdk',
      data: { cid: image.cid, 'parent-cid': image.parentCid, 'create-type': MONOLITHIC_SPARSE },
    };
  }

  check(image: VmdkImage): Promise<CheckReport> {
    return checkImage(image);
  }
}
