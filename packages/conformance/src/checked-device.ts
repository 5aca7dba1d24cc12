import { BlockDevice, type BlockDriver, type DriverImage } from '@vdisk/core';
import type { ConformanceImage } from './conformance-image.js';

/**
 * A `BlockDevice` over the driver under test, with the driver's callbacks watched: every
 * request that reaches the driver is recorded and must be aligned and inside the disk, as
 * core promises drivers (QEMU's block layer does the same for its drivers).
 */
export interface CheckedDevice {
  device: BlockDevice;
  image: DriverImage;
  /** Contract breaches seen so far, in words. */
  violations: string[];
  /**
   * Requests that reached the driver, as `readv offset length`, `blockStatus offset length`,
   * `write offset length`, `zero offset length`, `discard offset length` or `flush`.
   */
  requests: string[];
}

export interface OpenCheckedOptions {
  /** Open the image for writing (the driver's `write` and the rest are watched too). Default false. */
  writable?: boolean;
}

export async function openChecked(
  driver: BlockDriver,
  made: ConformanceImage,
  options: OpenCheckedOptions = {},
): Promise<CheckedDevice> {
  const writable = options.writable ?? false;
  const image = await driver.open(made.source, { writable, options: made.options ?? {} });
  const violations: string[] = [];
  const requests: string[] = [];
  const inspect = (what: string, offset: number, length: number) => {
    requests.push(`${what} ${offset} ${length}`);
    const align = image.requestAlignment;
    if (offset % align !== 0 || length % align !== 0) {
      violations.push(`${what}(${offset}, ${length}) is not aligned to ${align}`);
    }
    if (offset < 0 || length < 0 || offset + length > image.virtualSize) {
      violations.push(`${what}(${offset}, ${length}) is outside the disk (${image.virtualSize} bytes)`);
    }
  };
  const total = (buffers: readonly Uint8Array[]) => buffers.reduce((sum, b) => sum + b.length, 0);
  // Shadow the methods on the instance (not a Proxy): drivers may keep private fields.
  const readv = image.readv.bind(image);
  (image as { readv: DriverImage['readv'] }).readv = (offset, buffers) => {
    inspect('readv', offset, total(buffers));
    return readv(offset, buffers);
  };
  const watched: BlockDriver = {
    name: driver.name,
    probe: (sector, context) => driver.probe(sector, context),
    open: (source, openOptions) => driver.open(source, openOptions),
  };
  const { blockStatus, write, zero, discard, flush, check } = driver;
  if (blockStatus) {
    watched.blockStatus = (img, offset, length, statusOptions) => {
      inspect('blockStatus', offset, length);
      return blockStatus.call(driver, img, offset, length, statusOptions);
    };
  }
  if (write) {
    watched.write = (img, offset, buffers, writeOptions) => {
      inspect('write', offset, total(buffers));
      return write.call(driver, img, offset, buffers, writeOptions);
    };
  }
  if (zero) {
    watched.zero = (img, offset, length, zeroOptions) => {
      inspect('zero', offset, length);
      return zero.call(driver, img, offset, length, zeroOptions);
    };
  }
  if (discard) {
    watched.discard = (img, offset, length) => {
      inspect('discard', offset, length);
      return discard.call(driver, img, offset, length);
    };
  }
  if (flush) {
    watched.flush = (img) => {
      requests.push('flush');
      return flush.call(driver, img);
    };
  }
  if (check) watched.check = (img, checkOptions) => check.call(driver, img, checkOptions);
  // A parent, as core's chain opens it: the image checks it, then reads of what it does not hold go to it.
  const parent = made.parent ? await made.parent() : undefined;
  if (parent) await image.backingOpened?.(parent);
  const backing = parent ? { device: parent, filename: 'parent', fullFilename: 'parent' } : undefined;
  return { device: new BlockDevice(watched, image, made.source, { writable, backing }), image, violations, requests };
}
