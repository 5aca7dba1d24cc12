import {
  type BlockDriver,
  type BlockStatusOptions,
  type BlockStatusRun,
  type ByteSource,
  type CheckReport,
  type DriverOpenOptions,
  type FormatSpecificInfo,
  InvalidArgumentError,
  ReadOnlyError,
} from '@vdisk/core';
import { BochsImage } from './bochs-image.js';
import { checkImage } from './check.js';
import { checkCatalogSize, computeGeometry } from './geometry.js';
import { HEADER_SIZE, isBochsGrowingHeader, parseHeader } from './header.js';

const BIG_ENDIAN_HOST = new Uint8Array(Uint32Array.of(1).buffer)[0] === 0;

/** Bochs growing redolog images, ported from QEMU's block/bochs.c. */
export class BochsDriver implements BlockDriver<BochsImage> {
  readonly name = 'bochs';
  readonly description = 'Bochs growing (redolog) disk image';

  /** 100 for a Bochs growing image (bochs_probe), else 0. */
  probe(firstSector: Uint8Array): number {
    return isBochsGrowingHeader(firstSector) ? 100 : 0;
  }

  /** bochs_open: its checks in its order, with its messages. */
  async open(source: ByteSource, { writable, options }: DriverOpenOptions): Promise<BochsImage> {
    // QEMU's driver has no write support: it refuses before reading a byte.
    if (writable) throw new ReadOnlyError('Image is read-only');
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'bochs' does not support the option '${unknown}'`);
    }

    const headerBytes = new Uint8Array(HEADER_SIZE);
    await source.read(headerBytes, 0);
    const header = parseHeader(headerBytes);
    checkCatalogSize(header);
    // The whole catalog in one read, straight into its entries: the one allocation of an
    // open (at most 4 MiB). Past the end of the file it reads as zeros, as in QEMU;
    // `check` reports a catalog cut short.
    const catalog = new Uint32Array(header.catalogSize);
    await source.read(new Uint8Array(catalog.buffer), header.headerSize);
    if (BIG_ENDIAN_HOST) {
      // The entries are little-endian, as QEMU's le32_to_cpus does on any host.
      const view = new DataView(catalog.buffer);
      for (let i = 0; i < catalog.length; i++) catalog[i] = view.getUint32(i * 4, true);
    }
    const geometry = computeGeometry(header);
    return new BochsImage(source, header, geometry, catalog);
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
    const { header } = image;
    return {
      type: 'bochs',
      data: {
        version: header.version,
        subtype: header.subtype,
        'header-size': header.headerSize,
        'catalog-size': header.catalogSize,
        'bitmap-size': header.bitmapSize,
        'extent-size': header.extentSize,
        'allocated-extents': image.allocatedExtents(),
      },
    };
  }

  check(image: BochsImage): Promise<CheckReport> {
    return checkImage(image);
  }
}
