import { allocationMap, type BlockDevice, dataRanges, EventLoopYielder, type MapRun } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { defaultRegistry } from '../default-registry.js';
import { reportError } from '../error-line.js';

export interface CompareOptions {
  /** Format of the first image. */
  format?: string;
  /** Format of the second image (qemu-img's -F). */
  secondFormat?: string;
  /** Strict mode: images of different sizes, or of different allocation, differ. */
  strict: boolean;
  signal?: AbortSignal;
}

/** qemu-img compare's exit codes. */
export const COMPARE_EXIT = { identical: 0, different: 1, error: 2 } as const;

/** Bytes compared per step, from each image. */
const CHUNK_SIZE = 1024 * 1024;

/**
 * `vdisk compare A B`, after `qemu-img compare`: are the two virtual disks' contents the
 * same? Without `-s`, as in qemu-img, images of different sizes are equal when the longer
 * one reads as zeros past the end of the shorter. The first differing offset is exact to
 * the byte, where qemu-img names the first differing 512-byte sector.
 */
export async function compareCommand(first: string, second: string, opts: CompareOptions): Promise<number> {
  const registry = defaultRegistry();
  const devices: BlockDevice[] = [];
  let current = first;
  try {
    devices.push(await openFile(registry, first, { format: opts.format }));
    current = second;
    devices.push(await openFile(registry, second, { format: opts.secondFormat }));
    current = first;
    const [a, b] = devices as [BlockDevice, BlockDevice];
    if (opts.strict && a.virtualSize !== b.virtualSize) {
      process.stdout.write('Strict mode: Image size mismatch!\n');
      return COMPARE_EXIT.different;
    }
    const mismatch = await firstDifference(a, b, opts.strict, opts.signal);
    if (mismatch === undefined) {
      process.stdout.write('Images are identical.\n');
      return COMPARE_EXIT.identical;
    }
    process.stdout.write(
      mismatch.kind === 'status'
        ? `Strict mode: Offset ${mismatch.offset} block status mismatch!\n`
        : `Content mismatch at offset ${mismatch.offset}!\n`,
    );
    return COMPARE_EXIT.different;
  } catch (error) {
    reportError(error, current);
    return COMPARE_EXIT.error;
  } finally {
    for (const device of devices) await device.close();
  }
}

/** How much of the disks one pair of allocation-map queries covers. */
const MAP_WINDOW = 64 * 1024 * 1024;

interface Range {
  offset: number;
  length: number;
}

interface Mismatch {
  offset: number;
  /** `content`: the bytes differ there; `status`: with -s, the allocation maps do. */
  kind: 'content' | 'status';
}

/**
 * The first offset where `a` and `b` differ, a missing tail reading as zeros; undefined
 * when equal. With `strict`, the allocation maps count too, window by window as qemu-img
 * compares block status chunk by chunk: whichever difference comes first is reported.
 */
async function firstDifference(
  a: BlockDevice,
  b: BlockDevice,
  strict: boolean,
  signal?: AbortSignal,
): Promise<Mismatch | undefined> {
  const common = Math.min(a.virtualSize, b.virtualSize);
  const bufferA = new Uint8Array(CHUNK_SIZE);
  const bufferB = new Uint8Array(CHUNK_SIZE);
  // Reads that need no I/O (a disk that claims more than its file holds) resolve at once:
  // yield now and then, or Ctrl-C could never run.
  const yielder = new EventLoopYielder(signal);
  for (let window = 0; window < common; window += MAP_WINDOW) {
    const windowEnd = Math.min(window + MAP_WINDOW, common);
    const statusMismatch = strict ? await firstStatusMismatch(a, b, window, windowEnd, signal) : undefined;
    const contentEnd = statusMismatch ?? windowEnd;
    // Where both maps say hole, both read as zeros: only chunks that meet data in either
    // image are read. A chunk starts at data and runs on for CHUNK_SIZE (holes and later
    // data included), so a finely fragmented image still costs few large reads.
    const ranges =
      contentEnd > window
        ? union(
            await dataIn(a, window, contentEnd - window, signal),
            await dataIn(b, window, contentEnd - window, signal),
          )
        : [];
    let done = window;
    for (const range of ranges) {
      for (let position = Math.max(done, range.offset); position < range.offset + range.length; position = done) {
        await yielder.check();
        done = Math.min(position + CHUNK_SIZE, contentEnd);
        const x = bufferA.subarray(0, done - position);
        const y = bufferB.subarray(0, done - position);
        await Promise.all([a.readInto(x, position), b.readInto(y, position)]);
        const at = firstMismatch(x, y);
        if (at >= 0) return { offset: position + at, kind: 'content' };
      }
    }
    if (statusMismatch !== undefined) return { offset: statusMismatch, kind: 'status' };
  }
  const longer = a.virtualSize > b.virtualSize ? a : b;
  for (let window = common; window < longer.virtualSize; window += MAP_WINDOW) {
    const length = Math.min(MAP_WINDOW, longer.virtualSize - window);
    for (const range of await dataIn(longer, window, length, signal)) {
      for (let position = range.offset; position < range.offset + range.length; position += CHUNK_SIZE) {
        await yielder.check();
        const x = bufferA.subarray(0, Math.min(CHUNK_SIZE, range.offset + range.length - position));
        await longer.readInto(x, position);
        const at = x.findIndex((byte) => byte !== 0);
        if (at >= 0) return { offset: position + at, kind: 'content' };
      }
    }
  }
  return undefined;
}

/**
 * A map run's block status as `compare -s` compares it: qemu-img map's (present, zero,
 * data), as core derives them after QEMU's block layer. qemu-img compares its internal
 * status word; vdisk's rule is this triple, so two images are strictly equal when `vdisk
 * map --output=json` would print the same flags for every byte (depth and file offsets aside).
 */
function blockStatusOf(run: MapRun): string {
  return `${run.present},${run.zero},${run.data}`;
}

/** With -s: the first offset in `[start, end)` where the exact maps of `a` and `b` differ, or undefined. */
async function firstStatusMismatch(
  a: BlockDevice,
  b: BlockDevice,
  start: number,
  end: number,
  signal?: AbortSignal,
): Promise<number | undefined> {
  const mapOf = (device: BlockDevice) => allocationMap(device, { offset: start, length: end - start, signal });
  const runsA = mapOf(a);
  const runsB = mapOf(b);
  let x = (await runsA.next()).value;
  let y = (await runsB.next()).value;
  while (x && y) {
    if (blockStatusOf(x) !== blockStatusOf(y)) return Math.max(x.offset, y.offset);
    const xEnd = x.offset + x.length;
    const yEnd = y.offset + y.length;
    if (xEnd <= yEnd) x = (await runsA.next()).value;
    if (yEnd <= xEnd) y = (await runsB.next()).value;
  }
  return undefined;
}

/** The data ranges of `[offset, offset + length)`, from the cheap map: only what surely reads as zeros is skipped. */
async function dataIn(device: BlockDevice, offset: number, length: number, signal?: AbortSignal): Promise<Range[]> {
  const ranges: Range[] = [];
  for await (const range of dataRanges(device, { offset, length, wantZero: false, signal })) ranges.push(range);
  return ranges;
}

/** The union of two sorted lists of disjoint ranges, sorted, overlapping and touching ranges merged. */
export function union(x: readonly Range[], y: readonly Range[]): Range[] {
  const all = [...x, ...y].sort((p, q) => p.offset - q.offset);
  const merged: Range[] = [];
  for (const range of all) {
    const last = merged[merged.length - 1];
    if (last && range.offset <= last.offset + last.length) {
      last.length = Math.max(last.length, range.offset + range.length - last.offset);
    } else {
      merged.push({ ...range });
    }
  }
  return merged;
}

/** Index of the first byte where `x` and `y` (of equal length) differ, or -1. */
function firstMismatch(x: Uint8Array, y: Uint8Array): number {
  const bx = Buffer.from(x.buffer, x.byteOffset, x.byteLength);
  const by = Buffer.from(y.buffer, y.byteOffset, y.byteLength);
  if (bx.equals(by)) return -1;
  // Narrow down by 4 KiB blocks compared natively, then byte by byte in the block.
  for (let block = 0; block < x.length; block += 4096) {
    const end = Math.min(block + 4096, x.length);
    if (bx.subarray(block, end).equals(by.subarray(block, end))) continue;
    for (let i = block; i < end; i++) if (x[i] !== y[i]) return i;
  }
  return -1;
}
