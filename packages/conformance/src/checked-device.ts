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
  /** Requests that reached the driver, as `readv offset length` or `blockStatus offset length`. */
  requests: string[];
}

export async function openChecked(driver: BlockDriver, made: ConformanceImage): Promise<CheckedDevice> {
  const image = await driver.open(made.source, { writable: false, options: made.options ?? {} });
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
  // Shadow the methods on the instance (not a Proxy): drivers may keep private fields.
  const readv = image.readv.bind(image);
  (image as { readv: DriverImage['readv'] }).readv = (offset, buffers) => {
    inspect(
      'readv',
      offset,
      buffers.reduce((sum, b) => sum + b.length, 0),
    );
    return readv(offset, buffers);
  };
  const watched: BlockDriver = {
    name: driver.name,
    probe: (sector, context) => driver.probe(sector, context),
    open: (source, options) => driver.open(source, options),
  };
  const blockStatus = driver.blockStatus;
  if (blockStatus) {
    watched.blockStatus = (img, offset, length, options) => {
      inspect('blockStatus', offset, length);
      return blockStatus.call(driver, img, offset, length, options);
    };
  }
  return { device: new BlockDevice(watched, image, made.source), image, violations, requests };
}
