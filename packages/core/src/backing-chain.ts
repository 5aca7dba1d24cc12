import type { BlockDevice } from './block-device.js';
import type { ByteSource } from './byte-source.js';
import type { BackingReference, BlockStatusOptions } from './driver.js';
import { DriverContractError, VdiskError } from './errors.js';
import { IoVector } from './io-vector.js';

/**
 * Backing chains, once for every format (QEMU's block layer: bs->backing): an image whose
 * unwritten sectors come from another image. Bochs redologs over their base, Bochs sparse
 * layers, VHD differencing disks and `createVolatileOverlay` all go through here. A driver
 * only declares its parent (`DriverImage.backing`) and reports, in `blockStatus`, what it
 * does not hold; core opens the parent, reads from it and maps it.
 */

/** How many images a chain may hold below the top (Bochs stops sparse layers at 10). */
export const MAX_BACKING_DEPTH = 16;

/** An open parent, as `BlockDevice.backing` holds it. */
export interface Backing {
  /** The parent's open device (read-only). Closing the child closes it. */
  readonly device: BlockDevice;
  /** The parent's name as the image gives it: qemu-img info's `backing-filename`. */
  readonly filename: string;
  /** The name it was opened under, resolved: qemu-img info's `full-backing-filename`. */
  readonly fullFilename: string;
}

/** A parent's bytes, as an opener found them. */
export interface OpenedBacking {
  source: ByteSource;
  /** The parent's name, resolved (relative names against the child's directory). */
  filename: string;
  /** What makes two names one file (a real path, a device and inode): the loop check. */
  identity: string;
}

/**
 * Finds and opens the parent an image names. Core knows no file system: `openFile` in
 * `@vdisk/core/node` gives one for files; an embedder with other storage writes its own.
 */
export interface BackingOpener {
  /** The identity of the top image, when known, so that a chain back to it is a loop. */
  readonly identity?: string;
  /**
   * Opens `reference`'s bytes read-only; `child` is the resolved name of the image that
   * names it. Resolves undefined only when the parent does not exist and
   * `reference.ifExists` is set.
   */
  open(reference: BackingReference, child: string | undefined): Promise<OpenedBacking | undefined>;
}

/** A backing chain that cannot be opened: too deep, or looping back on itself. */
export class BackingChainError extends VdiskError {
  override name = 'BackingChainError';
  constructor(message: string, options?: { filename?: string }) {
    super('EFORMAT', message, options);
  }
}

/**
 * Fills `buffers` with `[offset, offset + length)` of a device that has a parent (aligned
 * and in range: BlockDevice's job). The image's own bytes where its map says it holds
 * them; the parent's where it does not (QEMU's copy of bs->backing on an unallocated
 * cluster), zeros past the parent's end.
 */
export async function readThroughBacking(
  device: BlockDevice,
  backing: Backing,
  offset: number,
  buffers: readonly Uint8Array[],
): Promise<void> {
  const iov = new IoVector(buffers);
  // The driver's own map, not BlockDevice.blockStatus: this read (or read-modify-write) is
  // a tracked request already, and asking the device again would wait for itself.
  const status = device.driver.blockStatus;
  if (!status) return device.image.readv(offset, buffers); // no map: the image holds everything
  const runs = await status.call(device.driver, device.image, offset, iov.length, { wantZero: true });
  let expected = offset;
  for (const run of runs) {
    if (run.offset !== expected || !(run.length > 0)) {
      throw new DriverContractError(
        `Driver ${device.driver.name} returned a block status that does not cover the range`,
      );
    }
    expected += run.length;
  }
  if (expected !== offset + iov.length) {
    throw new DriverContractError(`Driver ${device.driver.name} returned a block status that does not cover the range`);
  }
  if (runs.some((run) => run.data || run.allocated)) await device.image.readv(offset, buffers);
  const parent = backing.device;
  for (const run of runs) {
    if (run.data || run.allocated) continue;
    let position = run.offset;
    for (const piece of iov.slices(run.offset - offset, run.length)) {
      const inParent = Math.max(0, Math.min(piece.length, parent.virtualSize - position));
      if (inParent > 0) await parent.readInto(piece.subarray(0, inParent), position);
      piece.fill(0, inParent);
      position += piece.length;
    }
  }
}

/**
 * One run of the map of a whole chain, as `qemu-img map` prints it: which layer holds the
 * run (`depth`, 0 = the top image) and what it is there.
 */
export interface MapRun {
  offset: number;
  length: number;
  /** The layer the run comes from: 0 is the image itself, 1 its parent, and so on. */
  depth: number;
  /** Allocated in layer `depth` (QEMU's BDRV_BLOCK_ALLOCATED). */
  present: boolean;
  /** Reads as zeros. */
  zero: boolean;
  /** Holds data in layer `depth`. */
  data: boolean;
  /** For data runs that lie contiguously in layer `depth`'s file: where the run starts there. */
  fileOffset?: number;
}

/**
 * The chain's map of `[offset, offset + length)` (QEMU's qemu-img map get_block_status):
 * data and zero-allocated runs where a layer holds them, walking down for what a layer does
 * not. A run no layer holds is `present: false, zero: true` at the depth of the last layer
 * asked, where a base could have supplied it; in an image without a parent a hole is
 * `present: true, zero: true, data: false`, as qemu-img prints VDI and VHD holes, unless
 * its format could have a parent (`supportsBacking`: VMDK).
 */
export async function chainStatus(
  device: BlockDevice,
  offset: number,
  length: number,
  options?: BlockStatusOptions,
  depth = 0,
): Promise<MapRun[]> {
  const result: MapRun[] = [];
  if (length === 0) return result;
  for (const run of await device.blockStatus(offset, length, options)) {
    if (run.data) {
      const mapped: MapRun = { offset: run.offset, length: run.length, depth, present: true, zero: false, data: true };
      if (run.fileOffset !== undefined) mapped.fileOffset = run.fileOffset;
      result.push(mapped);
      continue;
    }
    const hole = { offset: run.offset, length: run.length, depth, present: true, zero: true, data: false };
    const parent = device.backing?.device;
    // Without a parent, QEMU calls a hole allocated zeros unless the format could have one
    // (supports_backing): then it is not present, as qemu-img prints VMDK holes.
    if (run.allocated || (!parent && depth === 0 && !device.driver.supportsBacking)) {
      result.push(hole);
      continue;
    }
    if (!parent) {
      result.push({ ...hole, present: false });
      continue;
    }
    const inParent = Math.max(0, Math.min(run.length, parent.virtualSize - run.offset));
    result.push(...(await chainStatus(parent, run.offset, inParent, options, depth + 1)));
    // Past the parent's end: zeros that no layer holds (QEMU: BDRV_BLOCK_ZERO, not allocated).
    if (inParent < run.length) {
      result.push({ ...hole, offset: run.offset + inParent, length: run.length - inParent, present: false });
    }
  }
  return result;
}

/** Appends `run`, merging it into the last run when they are the same kind and contiguous (in the file too). */
export function appendMapRun(runs: MapRun[], run: MapRun): void {
  const last = runs[runs.length - 1];
  if (
    last &&
    last.offset + last.length === run.offset &&
    last.depth === run.depth &&
    last.present === run.present &&
    last.zero === run.zero &&
    last.data === run.data &&
    (last.fileOffset === undefined
      ? run.fileOffset === undefined
      : run.fileOffset !== undefined && last.fileOffset + last.length === run.fileOffset)
  ) {
    last.length += run.length;
    return;
  }
  runs.push({ ...run });
}

/** The chain below `device`, top first (the device itself not included). */
export function backingChain(device: BlockDevice): Backing[] {
  const chain: Backing[] = [];
  for (let link = device.backing; link; link = link.device.backing) chain.push(link);
  return chain;
}
