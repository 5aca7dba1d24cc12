import {
  allocationMap,
  type BlockDevice,
  type BlockStatusRun,
  DEFAULT_MAP_WINDOW,
  EventLoopYielder,
} from '@vdisk/core';
import type { MapRunLike } from '@vdisk/view';

/** The map is asked for one segment at a time (16 of allocationMap's windows): the event loop gets a turn between them. */
export const MAP_SEGMENT = 16 * DEFAULT_MAP_WINDOW;

/** Whether `run` continues `last`: adjacent, of the same kind, and contiguous in the file too. */
function continues(last: MapRunLike, run: MapRunLike): boolean {
  return (
    last.offset + last.length === run.offset &&
    last.data === run.data &&
    last.allocated === run.allocated &&
    last.depth === run.depth &&
    last.present === run.present &&
    last.zero === run.zero &&
    (last.fileOffset === undefined
      ? run.fileOffset === undefined
      : run.fileOffset !== undefined && last.fileOffset + last.length === run.fileOffset)
  );
}

/**
 * allocationMap's runs from `offset` to the end of the disk, as the whole walk gives them,
 * with turns for the event loop. A walk over holes needs no I/O: allocationMap merges an
 * 8 TiB hole over 131072 windows of resolved promises before it yields its one run, and
 * no promise chain lets the browser paint or take a click. So the map is asked a segment
 * at a time, the runs merged across segments as allocationMap merges them across its
 * windows, and the event loop runs between segments (core's EventLoopYielder, as
 * copyDevice uses it).
 */
export async function* mapRuns(
  device: BlockDevice,
  options: { offset?: number; signal?: AbortSignal } = {},
): AsyncGenerator<BlockStatusRun, void, undefined> {
  const yielder = new EventLoopYielder(options.signal, 25);
  let pending: BlockStatusRun | undefined;
  for (let start = options.offset ?? 0; start < device.virtualSize; ) {
    const end = Math.min(device.virtualSize, (Math.floor(start / MAP_SEGMENT) + 1) * MAP_SEGMENT);
    for await (const run of allocationMap(device, { offset: start, length: end - start, signal: options.signal })) {
      if (pending && continues(pending, run)) {
        pending.length += run.length;
        continue;
      }
      if (pending) yield pending;
      pending = { ...run };
    }
    start = end;
    await yielder.check();
  }
  if (pending) yield pending;
}
