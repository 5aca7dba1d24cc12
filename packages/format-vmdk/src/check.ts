import type { CheckProblem, CheckReport } from '@vdisk/core';
import { SECTOR_SIZE, ZEROED_GRAIN } from './header.js';
import type { VmdkImage } from './vmdk-image.js';

/** At most this many problems are listed; the rest are counted. */
export const MAX_LISTED_PROBLEMS = 1000;

/**
 * QEMU's vmdk_co_check: every grain that a table points to must start before the end of
 * the file (`cluster offset for sector N points after EOF`), and every sector must have a
 * directory entry (`could not get cluster_offset for sector N`). QEMU stops at the first
 * and then fails the check itself (exit 1); vdisk lists them all as corruption (exit 2), so
 * that one bad grain does not hide the others. The walk reads each allocated grain table
 * once; unallocated tables (and those past the end of the file) cost nothing.
 */
export async function checkImage(image: VmdkImage): Promise<CheckReport> {
  const { header, source } = image;
  const problems: CheckProblem[] = [];
  let omitted = 0;
  const add = (message: string) => {
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push({ kind: 'corruption', message });
    else omitted++;
  };
  const { sectorsPerGt, granularity, gtesPerGt, capacity, zeroedGrains } = header;
  await image.lock.runExclusive(async () => {
    for (let gdIndex = 0; gdIndex < image.gd.length; gdIndex++) {
      const gtSector = image.gd[gdIndex] as number;
      if (gtSector === 0) continue;
      const table = await image.grainTable(gtSector);
      const firstSector = gdIndex * sectorsPerGt;
      for (let i = 0; i < Math.min(table.length, gtesPerGt); i++) {
        const sector = firstSector + i * granularity;
        if (sector >= capacity) break;
        const grain = table[i] as number;
        if (grain === 0 || (zeroedGrains && grain === ZEROED_GRAIN)) continue;
        if (grain * SECTOR_SIZE >= source.size) add(`cluster offset for sector ${sector} points after EOF`);
      }
    }
    // A 32-bit directory size can cover less than the capacity.
    const covered = header.gdEntries * sectorsPerGt;
    if (covered < capacity) add(`could not get cluster_offset for sector ${covered - (covered % granularity)}`);
  });
  const report: CheckReport = { problems };
  if (omitted > 0) report.omitted = { corruptions: omitted, leaks: 0 };
  return report;
}
