// Test-only: a third-party driver over a 512-byte file that claims 512 TiB of data. Every
// read lies past the end of the file, so no read does I/O: each one resolves at once.
import { BlockDevice } from './block-device.js';
import type { BlockDriver, DriverImage } from './driver.js';
import { MemorySource } from './memory-source.js';
import { readSource } from './read-source.js';

export const LYING_SIZE = 512 * 2 ** 40;

export interface LyingDisk {
  device: BlockDevice;
  /** blockStatus calls the driver received. */
  statusCalls: number;
}

export function lyingDisk(): LyingDisk {
  const source = new MemorySource(new Uint8Array(512));
  const disk: LyingDisk = { device: undefined as unknown as BlockDevice, statusCalls: 0 };
  const image: DriverImage = {
    virtualSize: LYING_SIZE,
    requestAlignment: 512,
    // Past the end of the source: zeros, without I/O.
    readv: (offset, buffers) => readSource(source, buffers, 512 + offset),
    async close() {},
  };
  const driver: BlockDriver = {
    name: 'lying',
    probe: () => 0,
    open: async () => image,
    async blockStatus(_image, offset, length) {
      disk.statusCalls++;
      return [{ offset, length, data: true, fileOffset: 512 + offset }];
    },
  };
  disk.device = new BlockDevice(driver, image, source);
  return disk;
}
