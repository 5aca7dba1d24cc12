import { type CheckProblem, type CheckReport, ReadOnlyError } from '@vdisk/core';
import type { BochsImage } from './bochs-image.js';
import { SECTOR_SIZE, UNALLOCATED } from './geometry.js';

/**
 * At most this many problems are listed; the rest are only counted. A 512-byte file can
 * claim a catalog of 0x100000 entries that all point past its end: listing each of them
 * took 580 MiB. A check's memory is the catalog's own bound (two 4 MiB arrays) plus this list.
 */
export const MAX_LISTED_PROBLEMS = 1000;

/** Collects problems, listing the first MAX_LISTED_PROBLEMS and counting the rest by kind. */
class ProblemList {
  readonly problems: CheckProblem[] = [];
  readonly omitted = { corruptions: 0, leaks: 0 };

  add(problem: () => CheckProblem, kind: CheckProblem['kind']): void {
    if (this.problems.length < MAX_LISTED_PROBLEMS) {
      this.problems.push(problem());
    } else if (kind === 'corruption') {
      this.omitted.corruptions++;
    } else {
      this.omitted.leaks++;
    }
  }

  report(): CheckReport {
    const { corruptions, leaks } = this.omitted;
    return corruptions + leaks > 0
      ? { problems: this.problems, omitted: { corruptions, leaks } }
      : { problems: this.problems };
  }
}

/**
 * A consistency check of a Bochs image (QEMU has none for this format). QEMU and vdisk
 * read past the end of the file as zeros; this is how a careful user learns that an
 * image is truncated or inconsistent.
 */
export async function checkImage(image: BochsImage): Promise<CheckReport> {
  const { header, geometry, catalog } = image;
  const fileSize = image.source.size;
  const list = new ProblemList();

  const sectorsPerExtent = geometry.extentSize / SECTOR_SIZE;
  if (header.bitmapSize * 8 < sectorsPerExtent) {
    list.add(
      () => ({
        kind: 'corruption',
        message: `Bitmap of ${header.bitmapSize} bytes cannot cover an extent of ${sectorsPerExtent} sectors`,
      }),
      'corruption',
    );
  }
  if (geometry.dataOffset > fileSize) {
    list.add(
      () => ({
        kind: 'corruption',
        message: `Catalog of ${header.catalogSize} entries at offset ${header.headerSize} is cut short by the end of the file (${fileSize} bytes)`,
      }),
      'corruption',
    );
  }

  // Slots that lie wholly in the file; a slot that no entry points to is a leak.
  const slotsInFile =
    fileSize > geometry.dataOffset ? Math.floor((fileSize - geometry.dataOffset) / geometry.slotStride) : 0;

  // The first owner of each slot, found by sorting the extents by slot: two typed arrays
  // of the catalog's length, where a Map of a million slots took tens of MiB.
  const order = new Uint32Array(catalog.length);
  for (let i = 0; i < order.length; i++) order[i] = i;
  order.sort((a, b) => (catalog[a] as number) - (catalog[b] as number) || a - b);
  const sharesWith = new Uint32Array(catalog.length).fill(UNALLOCATED);
  for (let k = 1; k < order.length; k++) {
    const index = order[k] as number;
    const previous = order[k - 1] as number;
    if (catalog[index] === catalog[previous] && catalog[index] !== UNALLOCATED) {
      const first = sharesWith[previous] === UNALLOCATED ? previous : (sharesWith[previous] as number);
      sharesWith[index] = first;
    }
  }

  for (let index = 0; index < catalog.length; index++) {
    const slot = catalog[index] ?? UNALLOCATED;
    if (slot === UNALLOCATED) continue;
    const owner = sharesWith[index] as number;
    if (owner !== UNALLOCATED) {
      list.add(
        () => ({
          kind: 'corruption',
          extent: index,
          message: `Extent ${index} shares slot ${slot} with extent ${owner}`,
        }),
        'corruption',
      );
    }
    if (slot >= slotsInFile) {
      list.add(() => {
        // Exact in bigint: the entry may point anywhere up to 2^64.
        const offset = BigInt(geometry.dataOffset) + BigInt(slot) * BigInt(geometry.slotStride);
        // A slot that starts in the file but is cut short by its end is no better: its tail
        // reads as zeros whatever its bitmap says.
        const where = offset < BigInt(fileSize) ? 'runs past' : 'past';
        return {
          kind: 'corruption',
          extent: index,
          message: `Extent ${index} points to slot ${slot} at offset ${offset}, ${where} the end of the file (${fileSize} bytes)`,
        };
      }, 'corruption');
    }
  }

  // Leaks: the slots below slotsInFile that no entry uses, walking the sorted slots.
  let next = 0;
  const leaksBelow = (end: number) => {
    for (; next < Math.min(end, slotsInFile); next++) {
      const slot = next;
      list.add(() => ({ kind: 'leak', message: `Slot ${slot} is not used by any extent` }), 'leak');
    }
  };
  for (const index of order) {
    const slot = catalog[index] as number;
    if (slot === UNALLOCATED || slot >= slotsInFile) break;
    leaksBelow(slot);
    next = Math.max(next, slot + 1);
  }
  leaksBelow(slotsInFile);

  // A slot cut short at the end of the file that no extent uses: what a crash leaves of an
  // allocation whose catalog entry was never written.
  const tailStart = geometry.dataOffset + slotsInFile * geometry.slotStride;
  if (fileSize > tailStart && !catalog.includes(slotsInFile)) {
    list.add(
      () => ({
        kind: 'leak',
        message: `The last ${fileSize - tailStart} bytes of the file are part of slot ${slotsInFile}, which no extent uses`,
      }),
      'leak',
    );
  }
  return list.report();
}

/** The number of leaks in a report, listed or not. */
function leakCount(report: CheckReport): number {
  return report.problems.filter((p) => p.kind === 'leak').length + (report.omitted?.leaks ?? 0);
}

/**
 * `qemu-img check -r leaks`: cuts the file after the last slot in use (max(catalog) + 1,
 * and any slot being allocated), which reclaims the orphan slots a crash leaves at the
 * end. Leaked slots in the middle stay, and are reported: moving slots is not a repair
 * worth its risk. Never cuts a catalog short, nor a slot an entry points to.
 */
export async function repairImage(image: BochsImage): Promise<CheckReport> {
  const before = await checkImage(image);
  const { geometry, source } = image;
  const end = geometry.dataOffset + image.nextSlot * geometry.slotStride;
  if (source.size > end && source.size >= geometry.dataOffset && leakCount(before) > 0) {
    if (!source.truncate) throw new ReadOnlyError('The image file cannot be truncated');
    await source.truncate(end);
  }
  const after = await checkImage(image);
  return { ...after, repaired: { corruptions: 0, leaks: leakCount(before) - leakCount(after) } };
}
