import type { CheckProblem, CheckReport } from '@vdisk/core';
import { DISCARDED } from './header.js';
import type { VdiImage } from './vdi-image.js';

/** At most this many problems are listed; the rest are counted (a hostile map has millions). */
export const MAX_LISTED_PROBLEMS = 1000;

/**
 * QEMU's vdi_co_check, with its three messages: an entry whose block index is not below the
 * header's blocks allocated (`block index N too large, is M`), two entries with the same
 * index (`block index X also used by Y`), and a count of allocated entries that differs from
 * the header's (`allocated blocks mismatch, is N, should be M`).
 *
 * One difference, on purpose: when the header counts more blocks than the map references,
 * the extra blocks are only unreferenced space (what a crash between vdisk's header write and
 * its block map write leaves), so that mismatch is a leak (exit 3), where QEMU calls every
 * mismatch corruption (exit 2). A map that references more than the header counts stays
 * corruption: the next allocation would reuse a block in use.
 */
export async function checkImage(image: VdiImage): Promise<CheckReport> {
  const { blocksInImage, blocksAllocated } = image.header;
  const problems: CheckProblem[] = [];
  const omitted = { corruptions: 0, leaks: 0 };
  const add = (problem: CheckProblem) => {
    if (problems.length < MAX_LISTED_PROBLEMS) problems.push(problem);
    else if (problem.kind === 'corruption') omitted.corruptions++;
    else omitted.leaks++;
  };

  // Which data blocks are in use. A Set, not QEMU's array of blocks_in_image entries: its
  // size is bounded by the distinct entries the file holds.
  const used = new Set<number>();
  let allocated = 0;
  // QEMU prints the entry twice in `also used by` (it records the entry, not the block that
  // used it first): its words, kept.
  const visit = (block: number, entry: number) => {
    if (entry >= DISCARDED) return;
    if (entry >= blocksAllocated) {
      add({ kind: 'corruption', extent: block, message: `block index ${block} too large, is ${entry}` });
      return;
    }
    allocated++;
    if (!used.has(entry)) used.add(entry);
    else add({ kind: 'corruption', extent: block, message: `block index ${entry} also used by ${entry}` });
  };
  const inFile = Math.min(blocksInImage, image.bmap.length);
  for (let block = 0; block < inFile; block++) visit(block, image.bmap[block] as number);
  // Past the end of the file every entry reads as 0 (QEMU's zero-filled read). Each is one
  // problem after the first: listed while there is room, then counted, without a loop of
  // up to 2^29 steps.
  let block = inFile;
  const firstZeroPending = () => blocksAllocated > 0 && !used.has(0);
  for (; block < blocksInImage && (problems.length < MAX_LISTED_PROBLEMS || firstZeroPending()); block++) {
    visit(block, 0);
  }
  const rest = blocksInImage - block;
  if (rest > 0) {
    if (blocksAllocated > 0) allocated += rest;
    omitted.corruptions += rest;
  }
  if (allocated !== blocksAllocated) {
    add({
      kind: allocated < blocksAllocated ? 'leak' : 'corruption',
      message: `allocated blocks mismatch, is ${allocated}, should be ${blocksAllocated}`,
    });
  }
  const report: CheckReport = { problems };
  if (omitted.corruptions + omitted.leaks > 0) report.omitted = omitted;
  return report;
}
