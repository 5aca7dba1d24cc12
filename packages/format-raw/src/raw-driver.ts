import {
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  type DriverImage,
  type DriverOpenOptions,
  type FormatSpecificInfo,
  ReadOnlyError,
  readSource,
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

  async open(source: ByteSource, { writable, options }: DriverOpenOptions): Promise<RawImage> {
    if (writable) throw new ReadOnlyError('Image is read-only');
    return new RawImage(source, parseRawOptions(options, source.size));
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
