import {
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  type CreateOptions,
  type DriverImage,
  type DriverOpenOptions,
  type FormatSpecificInfo,
  InvalidArgumentError,
  readSource,
  writeSource,
} from '@vdisk/core';
import { parseRawOptions, type RawWindow } from './raw-options.js';

/** An open raw image: a window `[offset, offset + size)` of its source. */
export class RawImage implements DriverImage {
  readonly requestAlignment = 1;
  readonly virtualSize: number;
  readonly source: ByteSource;
  readonly window: RawWindow;

  constructor(source: ByteSource, window: RawWindow) {
    this.source = source;
    this.window = window;
    this.virtualSize = window.size;
  }

  /** Straight through: one scattered read of the window (preadv for a file). */
  readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return readSource(this.source, buffers, this.window.offset + offset);
  }

  /** Straight through as well: one gathered write into the window (pwritev for a file). */
  writev(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return writeSource(this.source, buffers, this.window.offset + offset);
  }

  async close(): Promise<void> {}
}

/**
 * The raw format (QEMU's block/raw-format.c): the virtual disk is the file's bytes.
 * Unlike QEMU 7.2, which rounds a raw file's size up to a multiple of 512, the virtual
 * size is exactly the file's size.
 */
export class RawDriver implements BlockDriver<RawImage> {
  readonly name = 'raw';
  readonly description = 'Raw disk image: the virtual disk is the file';

  /** 1, always: the lowest positive score, so raw wins only when no other format matches. */
  probe(): number {
    return 1;
  }

  async open(source: ByteSource, { options }: DriverOpenOptions): Promise<RawImage> {
    return new RawImage(source, parseRawOptions(options, source.size));
  }

  /**
   * Writes into the window; core keeps every write inside the virtual size, so a raw image
   * never grows (QEMU's raw format does the same within its offset and size).
   */
  write(image: RawImage, offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    return image.writev(offset, buffers);
  }

  /** fdatasync of the file: raw has no metadata of its own. */
  async flush(image: RawImage): Promise<void> {
    await image.source.flush?.();
  }

  /**
   * A new raw image is `virtualSize` bytes of zeros, exactly (qemu-img rounds up to 512;
   * vdisk is exact to the byte): the target is truncated to that size, a sparse file. Raw
   * has no creation options: any is qemu-img's `Invalid parameter 'NAME'`.
   */
  async create(target: ByteSource, { virtualSize, options }: CreateOptions): Promise<void> {
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Invalid parameter '${unknown}'`);
    }
    if (target.truncate) {
      await target.truncate(virtualSize);
    } else if (virtualSize > target.size) {
      // A source that cannot truncate grows by a write: one zero byte at the end.
      await writeSource(target, [new Uint8Array(1)], virtualSize - 1);
    }
  }

  /**
   * Raw reports everything as data at its place in the file, as QEMU does for a raw file
   * it cannot query for holes. Node has no SEEK_DATA/SEEK_HOLE, so holes in the host file
   * are not reported; reading them gives zeros all the same.
   */
  async blockStatus(image: RawImage, offset: number, length: number): Promise<BlockStatusRun[]> {
    return [{ offset, length, data: true, fileOffset: image.window.offset + offset }];
  }

  /** Like qemu-img, raw has format-specific information only when a window is set. */
  info(image: RawImage): FormatSpecificInfo | undefined {
    if (!image.window.explicit) return undefined;
    return { type: 'raw', data: { offset: image.window.offset, size: image.window.size } };
  }
}
