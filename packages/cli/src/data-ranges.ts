import type { BlockDevice } from '@vdisk/core';

/** How much of the disk one allocation-map query covers, to bound the runs held at once. */
const MAP_WINDOW = 256 * 1024 * 1024;

/**
 * The ranges of the virtual disk that may hold data, in order, adjacent data runs merged
 * whatever their place in the file (a reader wants few, long reads). It asks the driver
 * the cheap question (`wantZero: false`, as QEMU's bdrv_is_allocated): convert finds the
 * zeros inside data itself, so Bochs answers from its catalog without reading a bitmap.
 */
export async function* dataRanges(device: BlockDevice): AsyncGenerator<{ offset: number; length: number }> {
  let pending: { offset: number; length: number } | undefined;
  for (let offset = 0; offset < device.virtualSize; offset += MAP_WINDOW) {
    const length = Math.min(MAP_WINDOW, device.virtualSize - offset);
    for (const run of await device.blockStatus(offset, length, { wantZero: false })) {
      if (!run.data) continue;
      if (pending && pending.offset + pending.length === run.offset) {
        pending.length += run.length;
        continue;
      }
      if (pending) yield pending;
      pending = { offset: run.offset, length: run.length };
    }
  }
  if (pending) yield pending;
}
