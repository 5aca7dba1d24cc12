import {
  type BlockDevice,
  type BlockDriver,
  type BlockStatusOptions,
  type BlockStatusRun,
  type ByteSource,
  type CheckOptions,
  type CheckReport,
  type CreateOptions,
  type DriverOpenOptions,
  type FormatSpecificInfo,
  ImageFormatError,
  InvalidArgumentError,
  type ModifiedTimeSource,
  writeSource,
} from '@vdisk/core';
import { growingInfoData } from './bochs-driver.js';
import { BochsImage } from './bochs-image.js';
import { readCatalog } from './catalog.js';
import { checkImage, repairImage } from './check.js';
import { createImage } from './create-image.js';
import { computeGeometry, SECTOR_SIZE } from './geometry.js';
import { FIELD, HEADER_SIZE } from './header.js';
import {
  fatTimestamp,
  formatFatTimestamp,
  isBochsRedologHeader,
  parseRedologHeader,
  REDOLOG_SUBTYPES,
  type RedologHeader,
} from './redolog-header.js';

/** The open options of `bochs-redolog` (`-o key=value`). */
export const REDOLOG_OPTIONS = ['base', 'base-format', 'check-coherency'] as const;
/** Its creation options: the base (whose size the caller passes), the subtype, and the growing format's extent size. */
export const REDOLOG_CREATE_OPTIONS = ['base', 'base-format', 'subtype', 'extent_size'] as const;

/** Bochs's undoable redolog name: `<base path>.redolog` (UNDOABLE_REDOLOG_EXTENSION). */
export const REDOLOG_EXTENSION = '.redolog';

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
    const source = base.source as Partial<ModifiedTimeSource>;
    // A base without a modification time (bytes in memory) cannot be judged: no check.
    if (typeof source.modifiedTime !== 'function') return;
    const baseStamp = fatTimestamp(await source.modifiedTime());
    if (stamp === 0) {
      // Bochs stamps an unstamped redolog with its base's time when it opens it to write.
      if (this.writable && this.header.version === 2) await this.#writeTimestamp(baseStamp, false);
      return;
    }
    if (baseStamp !== stamp) {
      throw new ImageFormatError(
        `unexpected modification time of the r/o disk (should be ${formatFatTimestamp(stamp)})`,
      );
    }
  }

  /**
   * Before a commit writes into the base: the timestamp becomes 0, durably. A commit changes
   * the base's mtime, so a rerun after a crash would fail Bochs's check; with 0 it passes,
   * and Bochs stamps the redolog afresh.
   */
  async beforeCommit(): Promise<void> {
    if (this.header.version === 2 && this.header.timestamp !== 0) await this.#writeTimestamp(0, true);
  }

  async #writeTimestamp(stamp: number, durable: boolean): Promise<void> {
    const bytes = new Uint8Array(4);
    new DataView(bytes.buffer).setUint32(0, stamp, true);
    await writeSource(this.source, [bytes], FIELD.timestamp);
    if (durable) await this.source.flush?.();
    this.header.timestamp = stamp;
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
  readonly supportsBacking = true;

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
    const headerBytes = new Uint8Array(HEADER_SIZE);
    await source.read(headerBytes, 0);
    const header = parseRedologHeader(headerBytes);
    const catalog = await readCatalog(source, header);
    const geometry = computeGeometry(header);
    if (
      writable &&
      (header.bitmapSize * 8 < geometry.extentSize / SECTOR_SIZE || geometry.bitmapBlocks > geometry.extentBlocks)
    ) {
      throw new ImageFormatError(
        `Bitmap of ${header.bitmapSize} bytes does not fit extents of ${geometry.extentSize} bytes: the image cannot be written`,
      );
    }
    const image = new RedologImage(source, header, geometry, catalog, writable);
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

  /**
   * The growing image's write path (bochs-image.ts): a sector goes to the redolog and its
   * bit is set after a barrier, so until then it reads from the base. No `zero` or
   * `discard`: clearing a redolog's bit would show the base's bytes, not zeros, so core
   * writes zeros instead.
   */
  write(image: RedologImage, offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return image.write(offset, buffers);
  }

  flush(image: RedologImage): Promise<void> {
    return image.flush();
  }

  /**
   * An empty redolog Bochs accepts: bximage's growing header and catalog for the disk (the
   * base's size, which the caller passes), subtype Undoable (or `-o subtype=Volatile`),
   * timestamp 0, which Bochs replaces with the base's on its first open.
   */
  async create(target: ByteSource, { virtualSize, options }: CreateOptions): Promise<void> {
    const unknown = Object.keys(options).find((key) => !(REDOLOG_CREATE_OPTIONS as readonly string[]).includes(key));
    if (unknown !== undefined) throw new InvalidArgumentError(`Invalid parameter '${unknown}'`);
    const subtype = REDOLOG_SUBTYPES.find(
      (name) => name.toLowerCase() === (options.subtype ?? 'undoable').toLowerCase(),
    );
    if (!subtype)
      throw new InvalidArgumentError(`Parameter 'subtype' expects 'undoable' or 'volatile', not '${options.subtype}'`);
    await createImage(target, {
      virtualSize,
      options: options.extent_size === undefined ? {} : { extent_size: options.extent_size },
    });
    const field = new Uint8Array(16);
    for (let i = 0; i < subtype.length; i++) field[i] = subtype.charCodeAt(i);
    await writeSource(target, [field], FIELD.subtype);
  }

  info(image: RedologImage): FormatSpecificInfo {
    return { type: 'bochs-redolog', data: { ...growingInfoData(image), timestamp: image.header.timestamp } };
  }

  /** The growing image's check; with `repair`, its repair (orphan slots cut at the end). */
  check(image: RedologImage, options?: CheckOptions): Promise<CheckReport> {
    return options?.repair ? repairImage(image) : checkImage(image);
  }
}

/** `disk.img.redolog` → `disk.img`, relative to the redolog's directory; undefined for other names. */
export function baseByBochsRule(filename: string | undefined): string | undefined {
  if (!filename?.endsWith(REDOLOG_EXTENSION)) return undefined;
  const base = filename.slice(filename.lastIndexOf('/') + 1, -REDOLOG_EXTENSION.length);
  return base === '' ? undefined : base;
}
