import type { NbdDevice } from './nbd-device.js';

/** What a run of the export reads as, for base:allocation and sparse reads. */
export interface StatusRun {
  offset: number;
  length: number;
  /** Reads as zeros. */
  zero: boolean;
  /** No layer holds it (NBD_STATE_HOLE): zeros by absence. */
  hole: boolean;
}

/**
 * The export's status of `[offset, offset + length)` across its backing chain, as qemu-nbd
 * answers for an image over a base (bdrv_block_status_above): a run the top image does not
 * hold is what its parent holds there, so a base's data is data, never a hole. Adjacent
 * runs of the same kind are merged.
 */
export async function exportStatus(
  device: NbdDevice,
  offset: number,
  length: number,
  wantZero: boolean,
): Promise<StatusRun[]> {
  const result: StatusRun[] = [];
  const push = (run: StatusRun) => {
    const last = result[result.length - 1];
    if (last && last.zero === run.zero && last.hole === run.hole && last.offset + last.length === run.offset) {
      last.length += run.length;
    } else {
      result.push({ ...run });
    }
  };
  if (length === 0) return result;
  const runs = device.blockStatus
    ? await device.blockStatus(offset, length, { wantZero })
    : [{ offset, length, data: true }];
  for (const run of runs) {
    if (run.data) {
      push({ offset: run.offset, length: run.length, zero: false, hole: false });
      continue;
    }
    const parent = run.allocated ? undefined : device.backing?.device;
    if (!parent) {
      push({ offset: run.offset, length: run.length, zero: true, hole: !run.allocated });
      continue;
    }
    const inParent = Math.max(0, Math.min(run.length, parent.virtualSize - run.offset));
    for (const below of await exportStatus(parent, run.offset, inParent, wantZero)) push(below);
    // Past the parent's end: zeros no layer holds.
    if (inParent < run.length) {
      push({ offset: run.offset + inParent, length: run.length - inParent, zero: true, hole: true });
    }
  }
  return result;
}
