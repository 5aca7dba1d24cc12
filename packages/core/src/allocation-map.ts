import { appendMapRun, chainStatus, type MapRun } from './backing-chain.js';
import type { BlockDevice } from './block-device.js';
import { InvalidArgumentError } from './errors.js';
import { EventLoopYielder } from './event-loop-yielder.js';
import { assertExactRange } from './exact-offset.js';

export interface AllocationMapOptions {
  /** Where to start, in bytes of the virtual disk. Default 0. */
  offset?: number;
  /** How many bytes to cover. Default: to the end of the disk. */
  length?: number;
  /**
   * How much of the disk one `blockStatus` query covers (rounded up to the device's
   * alignment). It bounds the runs held in memory at once: a fragmented image can give one
   * run per sector, and a whole 8 TB disk's worth of those would not fit.
   */
  window?: number;
  /**
   * QEMU's want_zero (default true): exact runs, as `qemu-img map` shows them. False lets a
   * driver call data what it cannot tell from zeros cheaply; holes are still surely zeros.
   */
  wantZero?: boolean;
  signal?: AbortSignal;
}

/** 64 MiB: at worst 131072 one-sector runs of a fragmented Bochs image held at once. */
export const DEFAULT_MAP_WINDOW = 64 * 1024 * 1024;

/**
 * The map of a range as the device answers it, one window at a time (each window's runs
 * merged by the device, not across windows). Every step is a yield point: a device that
 * answers from memory still lets timers and signals run, and an abort ends the walk.
 */
async function* statusWindows(
  device: BlockDevice,
  options: AllocationMapOptions,
): AsyncGenerator<{ runs: MapRun[]; window: number }, void, undefined> {
  const offset = options.offset ?? 0;
  const length = options.length ?? Math.max(0, device.virtualSize - offset);
  assertExactRange(offset, length, 'Map');
  const align = device.requestAlignment;
  const requested = options.window ?? DEFAULT_MAP_WINDOW;
  if (!Number.isSafeInteger(requested) || requested < 1) {
    throw new InvalidArgumentError(`Map window ${requested} is not a positive integer`);
  }
  const window = Math.ceil(requested / align) * align;
  const end = offset + length;
  const yielder = new EventLoopYielder(options.signal);
  for (let position = offset; position < end; ) {
    await yielder.check();
    // Windows end on alignment boundaries, so no unit is asked about twice.
    const windowEnd = Math.min(end, Math.floor(position / window) * window + window);
    // The whole chain's map: what the device does not hold comes from its parents (depth 1, 2...).
    const runs = await chainStatus(device, position, windowEnd - position, { wantZero: options.wantZero ?? true });
    yield { runs, window };
    position = windowEnd;
  }
}

/**
 * The allocation map of a range (QEMU's block status, as `qemu-img map` walks it): runs in
 * order, covering the range, adjacent runs of the same kind merged, also across the
 * windows it is queried in. A data run is split where it stops being contiguous in the
 * file, so each run has at most one file offset. Each run says which layer of a backing
 * chain holds it (`depth`) and qemu-img map's `present`, `zero` and `data` (see
 * `chainStatus`): a hole is `present: false` only where a parent could have supplied it.
 */
export async function* allocationMap(
  device: BlockDevice,
  options: AllocationMapOptions = {},
): AsyncGenerator<MapRun, void, undefined> {
  let pending: MapRun | undefined;
  for await (const { runs } of statusWindows(device, options)) {
    for (const run of runs) {
      if (pending) {
        const merged = [pending];
        appendMapRun(merged, run);
        if (merged.length === 1) continue;
        yield pending;
      }
      pending = { ...run };
    }
  }
  if (pending) yield pending;
}

/**
 * The ranges of the map that hold data, in order, adjacent data runs merged wherever they
 * lie in the file: a reader wants few long reads (Bochs gives a run per extent, each in
 * its own slot). A range is handed over once it spans a map window, without waiting to
 * see whether the data goes on: the first range of a disk that is all data comes after
 * one window's query, not after mapping the whole disk. With `wantZero: false` (QEMU's
 * bdrv_is_allocated) a driver may answer cheaply and the reader finds zeros inside data
 * itself, as convert does.
 */
export async function* dataRanges(
  device: BlockDevice,
  options: AllocationMapOptions = {},
): AsyncGenerator<{ offset: number; length: number }, void, undefined> {
  let pending: { offset: number; length: number } | undefined;
  for await (const { runs, window } of statusWindows(device, options)) {
    for (const run of runs) {
      if (!run.data) continue;
      if (pending && pending.offset + pending.length === run.offset) {
        pending.length += run.length;
        continue;
      }
      if (pending) yield pending;
      pending = { offset: run.offset, length: run.length };
    }
    if (pending && pending.length >= window) {
      yield pending;
      pending = undefined;
    }
  }
  if (pending) yield pending;
}
