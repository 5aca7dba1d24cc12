import {
  type BlockDriver,
  type BlockStatusOptions,
  type BlockStatusRun,
  type ByteSource,
  type CheckOptions,
  type CheckReport,
  type CreateOptions,
  type DriverOpenOptions,
  type FormatSpecificInfo,
  InvalidArgumentError,
  type WriteOptions,
  type ZeroOptions,
} from '@vdisk/core';
import { BochsImage } from './bochs-image.js';
import { readCatalog } from './catalog.js';
import { checkImage, repairImage } from './check.js';
import { createImage } from './create-image.js';
import { computeGeometry } from './geometry.js';
import { HEADER_SIZE, isBochsGrowingHeader, parseHeader } from './header.js';
import { whyNotWritable } from './write-guard.js';

/**
 * Bochs growing redolog images: reading ported from QEMU's block/bochs.c, writing in
 * Bochs's layout (redolog_t::write) in a crash-safe order, creating as bximage does.
 */
export class BochsDriver implements BlockDriver<BochsImage> {
  readonly name = 'bochs';
  readonly description = 'Bochs growing disk image (header type "Redolog", subtype "Growing")';

  /** 100 for a Bochs growing image (bochs_probe), else 0. */
  probe(firstSector: Uint8Array): number {
    return isBochsGrowingHeader(firstSector) ? 100 : 0;
  }

  /**
   * bochs_open: its checks in its order, with its messages. QEMU's first step, `Image is
   * read-only` for a writable open, is gone: this driver writes. The header is never
   * rewritten on open (Bochs rewrites it to stamp the time).
   */
  async open(source: ByteSource, { writable, options }: DriverOpenOptions): Promise<BochsImage> {
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'bochs' does not support the option '${unknown}'`);
    }

    const headerBytes = new Uint8Array(HEADER_SIZE);
    await source.read(headerBytes, 0);
    const header = parseHeader(headerBytes);
    const catalog = await readCatalog(source, header);
    const geometry = computeGeometry(header);
    const image = new BochsImage(source, header, geometry, catalog, writable);
    if (writable) {
      const reason = await whyNotWritable(image);
      if (reason !== undefined) image.refuseWrites(reason);
    }
    return image;
  }

  /** With `fua`, core flushes after the write (one rule for every driver): nothing to do here. */
  write(image: BochsImage, offset: number, buffers: readonly Uint8Array[], _options?: WriteOptions): Promise<void> {
    return image.write(offset, buffers);
  }

  flush(image: BochsImage): Promise<void> {
    return image.flush();
  }

  /** Clears the bits: the sectors read as zeros (Bochs has no "allocated zeros" state). */
  zero(image: BochsImage, offset: number, length: number, _options?: ZeroOptions): Promise<void> {
    return image.zero(offset, length);
  }

  discard(image: BochsImage, offset: number, length: number): Promise<void> {
    return image.zero(offset, length);
  }

  create(target: ByteSource, options: CreateOptions): Promise<void> {
    return createImage(target, options);
  }

  blockStatus(
    image: BochsImage,
    offset: number,
    length: number,
    options?: BlockStatusOptions,
  ): Promise<BlockStatusRun[]> {
    return image.blockStatus(offset, length, options);
  }

  info(image: BochsImage): FormatSpecificInfo {
    return { type: 'bochs', data: growingInfoData(image) };
  }

  /** With `repair` (`leaks` or `all`), reclaims the orphan slots at the end of the file, then reports what is left. */
  check(image: BochsImage, options?: CheckOptions): Promise<CheckReport> {
    return options?.repair ? repairImage(image) : checkImage(image);
  }
}

/** `info`'s fields of an image in the redolog layout (growing, undoable, volatile), in CONTRACT.md's keys. */
export function growingInfoData(image: BochsImage): Record<string, number | string> {
  const { header } = image;
  return {
    version: header.version,
    subtype: header.subtype,
    'header-size': header.headerSize,
    'catalog-size': header.catalogSize,
    'bitmap-size': header.bitmapSize,
    'extent-size': header.extentSize,
    'allocated-extents': image.allocatedExtents(),
  };
}
