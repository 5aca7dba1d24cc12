import {
  type BlockDevice,
  type BlockDriver,
  type BlockStatusOptions,
  type BlockStatusRun,
  type ByteSource,
  type CheckReport,
  type DriverOpenOptions,
  type FormatSpecificInfo,
  ImageFormatError,
  InvalidArgumentError,
  type ModifiedTimeSource,
  ReadOnlyError,
} from '@vdisk/core';
import { BochsImage } from './bochs-image.js';
import { checkImage } from './check.js';
import { checkCatalogSize, computeGeometry } from './geometry.js';
import { HEADER_SIZE } from './header.js';
import {
  fatTimestamp,
  formatFatTimestamp,
  isBochsRedologHeader,
  parseRedologHeader,
  type RedologHeader,
} from './redolog-header.js';

/** The open options of `bochs-redolog` (`-o key=value`). */
export const REDOLOG_OPTIONS = ['base', 'base-format', 'check-coherency'] as const;

/** Bochs's undoable redolog name: `<base path>.redolog` (UNDOABLE_REDOLOG_EXTENSION). */
export const REDOLOG_EXTENSION = '.redolog';

const BIG_ENDIAN_HOST = new Uint8Array(Uint32Array.of(1).buffer)[0] === 0;

/** A redolog image: a growing image's layout over a base, which core opens read-only and reads through. */
export class RedologImage extends BochsImage {
  declare readonly header: RedologHeader;
  backing?: { filename: string; format?: string; asGiven?: boolean };
  /** Bochs's coherency check at open (`-o check-coherency=off` skips it). */
  checkCoherency = true;

  /**
   * coherency_check: the redolog's disk size must be the base's; a timestamp other than 0
   * must be the base's (FAT of its mtime, in local time), with Bochs's messages.
   */
  async backingOpened(base: BlockDevice): Promise<void> {
    if (!this.checkCoherency) return;
    if (this.header.diskSize !== BigInt(base.virtualSize)) {
      throw new ImageFormatError("size reported by redolog doesn't match r/o disk size");
    }
    const stamp = this.header.timestamp;
    if (stamp === 0) return;
    const source = base.source as Partial<ModifiedTimeSource>;
    // A base without a modification time (bytes in memory) cannot be judged: no check.
    if (typeof source.modifiedTime !== 'function') return;
    if (fatTimestamp(await source.modifiedTime()) !== stamp) {
      throw new ImageFormatError(
        `unexpected modification time of the r/o disk (should be ${formatFatTimestamp(stamp)})`,
      );
    }
  }
}

/**
 * Bochs's undoable and volatile redologs (`bochs-redolog`): a growing image's layout, subtype
 * Undoable or Volatile, whose unwritten sectors come from a base image. `-f bochs` stays
 * QEMU's driver and refuses these (`Image not in Bochs format`).
 *
 * The base is `-o base=PATH`, else by Bochs's rule the redolog's name without `.redolog`
 * (`disk.img.redolog` is over `disk.img`); its format is `-o base-format=FMT` or probed, a
 * raw guess warned about (core). Writes go to the redolog only.
 */
export class BochsRedologDriver implements BlockDriver<RedologImage> {
  readonly name = 'bochs-redolog';
  readonly description = 'Bochs undoable or volatile redolog over a base image';

  probe(firstSector: Uint8Array): number {
    return isBochsRedologHeader(firstSector) ? 100 : 0;
  }

  async open(source: ByteSource, { writable, options, filename }: DriverOpenOptions): Promise<RedologImage> {
    const unknown = Object.keys(options).find((key) => !(REDOLOG_OPTIONS as readonly string[]).includes(key));
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'bochs-redolog' does not support the option '${unknown}'`);
    }
    const coherency = options['check-coherency'] ?? 'on';
    if (coherency !== 'on' && coherency !== 'off') {
      throw new InvalidArgumentError(`Parameter 'check-coherency' expects 'on' or 'off', not '${coherency}'`);
    }
    if (writable) throw new ReadOnlyError('Image is read-only');

    const headerBytes = new Uint8Array(HEADER_SIZE);
    await source.read(headerBytes, 0);
    const header = parseRedologHeader(headerBytes);
    checkCatalogSize(header);
    const catalog = new Uint32Array(header.catalogSize);
    await source.read(new Uint8Array(catalog.buffer), header.headerSize);
    if (BIG_ENDIAN_HOST) {
      const view = new DataView(catalog.buffer);
      for (let i = 0; i < catalog.length; i++) catalog[i] = view.getUint32(i * 4, true);
    }
    const image = new RedologImage(source, header, computeGeometry(header), catalog);
    image.checkCoherency = coherency === 'on';
    const base = options.base ?? baseByBochsRule(filename);
    if (base === undefined) {
      throw new InvalidArgumentError(
        `The base image of a redolog is not known: name the redolog BASE${REDOLOG_EXTENSION}, or give -o base=PATH`,
      );
    }
    image.backing = {
      filename: base,
      ...(options['base-format'] === undefined ? {} : { format: options['base-format'] }),
      ...(options.base === undefined ? {} : { asGiven: true }),
    };
    return image;
  }

  blockStatus(
    image: RedologImage,
    offset: number,
    length: number,
    options?: BlockStatusOptions,
  ): Promise<BlockStatusRun[]> {
    return image.blockStatus(offset, length, options);
  }

  info(image: RedologImage): FormatSpecificInfo {
    const { header } = image;
    return {
      type: 'bochs-redolog',
      data: {
        version: header.version,
        subtype: header.subtype,
        'header-size': header.headerSize,
        'catalog-size': header.catalogSize,
        'bitmap-size': header.bitmapSize,
        'extent-size': header.extentSize,
        'allocated-extents': image.allocatedExtents(),
        timestamp: header.timestamp,
      },
    };
  }

  check(image: RedologImage): Promise<CheckReport> {
    return checkImage(image);
  }
}

/** `disk.img.redolog` → `disk.img`, relative to the redolog's directory; undefined for other names. */
export function baseByBochsRule(filename: string | undefined): string | undefined {
  if (!filename?.endsWith(REDOLOG_EXTENSION)) return undefined;
  const base = filename.slice(filename.lastIndexOf('/') + 1, -REDOLOG_EXTENSION.length);
  return base === '' ? undefined : base;
}
