import type { CheckProblem, CheckReport } from '@vdisk/core';
import type { BochsImage } from './bochs-image.js';
import { SECTOR_SIZE, UNALLOCATED } from './geometry.js';

/**
 * A consistency check of a Bochs image (QEMU has none for this format). QEMU and vdisk
 * read past the end of the file as zeros; this is how a careful user learns that an
 * image is truncated or inconsistent.
 */
export async function checkImage(image: BochsImage): Promise<CheckReport> {
  const { header, geometry, catalog } = image;
  const fileSize = image.source.size;
  const problems: CheckProblem[] = [];

  const sectorsPerExtent = geometry.extentSize / SECTOR_SIZE;
  if (header.bitmapSize * 8 < sectorsPerExtent) {
    problems.push({
      kind: 'corruption',
      message: `Bitmap of ${header.bitmapSize} bytes cannot cover an extent of ${sectorsPerExtent} sectors`,
    });
  }
  if (geometry.dataOffset > fileSize) {
    problems.push({
      kind: 'corruption',
      message: `Catalog of ${header.catalogSize} entries at offset ${header.headerSize} is cut short by the end of the file (${fileSize} bytes)`,
    });
  }

  // Slots that lie wholly in the file; a slot that no entry points to is a leak.
  const slotsInFile =
    fileSize > geometry.dataOffset ? Math.floor((fileSize - geometry.dataOffset) / geometry.slotStride) : 0;
  const owner = new Map<number, number>();
  for (let index = 0; index < catalog.length; index++) {
    const slot = catalog[index] ?? UNALLOCATED;
    if (slot === UNALLOCATED) continue;
    const previous = owner.get(slot);
    if (previous !== undefined) {
      problems.push({
        kind: 'corruption',
        extent: index,
        message: `Extent ${index} shares slot ${slot} with extent ${previous}`,
      });
    } else {
      owner.set(slot, index);
    }
    if (slot >= slotsInFile) {
      // Exact in bigint: the entry may point anywhere up to 2^64.
      const offset = BigInt(geometry.dataOffset) + BigInt(slot) * BigInt(geometry.slotStride);
      // A slot that starts in the file but is cut short by its end is no better: its tail
      // reads as zeros whatever its bitmap says.
      const where = offset < BigInt(fileSize) ? 'runs past' : 'past';
      problems.push({
        kind: 'corruption',
        extent: index,
        message: `Extent ${index} points to slot ${slot} at offset ${offset}, ${where} the end of the file (${fileSize} bytes)`,
      });
    }
  }
  for (let slot = 0; slot < slotsInFile; slot++) {
    if (!owner.has(slot)) {
      problems.push({ kind: 'leak', message: `Slot ${slot} is not used by any extent` });
    }
  }
  return { problems };
}
