import { isAllZero } from './all-zero.js';
import { dataRanges } from './allocation-map.js';
import type { BlockDevice } from './block-device.js';
import { InvalidArgumentError, OutOfRangeError, ReadOnlyError } from './errors.js';
import { EventLoopYielder } from './event-loop-yielder.js';

export interface CopyDeviceOptions {
  /**
   * Blocks of this many bytes (aligned to multiples of it on the disk) that read as zeros
   * are not written: qemu-img convert's `-S`, default 4096. 512 skips single sectors, as
   * bximage's convert does. 0 writes every byte, holes included (a fully allocated copy).
   */
  zeroGranularity?: number;
  /** Called as the copy advances: bytes of the virtual disk done, of `total`. */
  onProgress?(done: number, total: number): void;
  /** Checked before every chunk; the copy stops with `AbortedError` when it fires. */
  signal?: AbortSignal;
}

/** Bytes read and written per step. Two such buffers are in use at once: peak memory stays small. */
const CHUNK_SIZE = 4 * 1024 * 1024;
/** The map is asked one window at a time, so that a huge sparse disk still lets the event loop run. */
const MAP_SEGMENT = 64 * 1024 * 1024;
/** qemu-img's largest `-S`. */
const MAX_GRANULARITY = 16 * 1024 * 1024;

/**
 * Copies the virtual disk of `from` into `to`, which is assumed to read as zeros (a new
 * image): qemu-img convert's sparse copy. Holes of `from`'s map are not read, and blocks of
 * zeros in its data are not written, so the target stays sparse. The next chunk is read
 * while the previous one is written; writes are issued in ascending offset order, each
 * awaited before the next (formats that allocate as they go, like Bochs, lay out their
 * slots in disk order, as bximage does).
 *
 * It runs anywhere (no Node API) and yields to the event loop every few milliseconds even
 * when no I/O waits, so that an AbortSignal fired from a timer or a signal handler is seen.
 */
export async function copyDevice(from: BlockDevice, to: BlockDevice, options: CopyDeviceOptions = {}): Promise<void> {
  const granularity = options.zeroGranularity ?? 4096;
  if (!Number.isSafeInteger(granularity) || granularity < 0 || granularity > MAX_GRANULARITY) {
    throw new InvalidArgumentError(
      `Zero granularity ${granularity} is not a whole number of bytes from 0 to ${MAX_GRANULARITY}`,
    );
  }
  if (!to.writable) throw new ReadOnlyError();
  const total = from.virtualSize;
  if (to.virtualSize < total) {
    throw new OutOfRangeError(`The target (${to.virtualSize} bytes) is smaller than the source (${total} bytes)`);
  }
  const { signal, onProgress } = options;
  const yielder = new EventLoopYielder(signal);
  await yielder.check();

  // Chunks end on granularity boundaries, so every zero block is judged whole.
  const chunkSize = granularity > 0 ? Math.ceil(CHUNK_SIZE / granularity) * granularity : CHUNK_SIZE;
  const buffers: Uint8Array[] = [];
  let turn = 0;
  let pending: Promise<void> = Promise.resolve();
  let pendingEnd = 0;

  const copyRange = async (offset: number, length: number) => {
    const end = offset + length;
    for (let position = offset; position < end; ) {
      await yielder.check();
      let stop = Math.min(end, position + chunkSize);
      if (granularity > 0 && stop < end && stop % granularity !== 0) {
        const boundary = stop - (stop % granularity);
        if (boundary > position) stop = boundary;
      }
      const index = turn++ % 2;
      buffers[index] ??= new Uint8Array(Math.min(chunkSize, total));
      const chunk = (buffers[index] as Uint8Array).subarray(0, stop - position);
      await from.readInto(chunk, position); // while the previous chunk is being written
      await pending;
      onProgress?.(pendingEnd, total);
      const at = position;
      pending = granularity > 0 ? writeNonZero(to, chunk, at, granularity, yielder) : to.write(at, chunk);
      // Marked as handled: if the next read fails first, this rejection is not left unhandled.
      pending.catch(() => {});
      pendingEnd = stop;
      position = stop;
    }
  };

  try {
    if (granularity === 0) {
      await copyRange(0, total);
    } else {
      for (let segment = 0; segment < total; segment += MAP_SEGMENT) {
        await yielder.check();
        const length = Math.min(MAP_SEGMENT, total - segment);
        // The cheap map (wantZero: false): Bochs answers from its catalog alone, and the
        // zeros inside data are found by writeNonZero.
        for await (const range of dataRanges(from, { offset: segment, length, wantZero: false, signal })) {
          await copyRange(range.offset, range.length);
        }
        // Holes count as done: progress moves across a sparse disk too, as qemu-img's -p.
        await pending;
        pendingEnd = segment + length;
        onProgress?.(pendingEnd, total);
      }
    }
  } finally {
    // Never leave a write running behind the caller's back, even when the copy failed.
    await pending.catch(() => {});
  }
  await pending;
  onProgress?.(total, total);
}

/**
 * Writes the runs of `chunk` (at `position` of the disk) that are not whole zero blocks,
 * one write per run, in ascending order, each awaited before the next.
 */
async function writeNonZero(
  to: BlockDevice,
  chunk: Uint8Array,
  position: number,
  granularity: number,
  yielder: EventLoopYielder,
): Promise<void> {
  const end = position + chunk.length;
  let runStart = -1;
  for (let block = position; block < end; ) {
    const blockEnd = Math.min(end, block - (block % granularity) + granularity);
    const isData = !isAllZero(chunk.subarray(block - position, blockEnd - position));
    if (isData && runStart < 0) runStart = block;
    if (!isData && runStart >= 0) {
      await to.write(runStart, chunk.subarray(runStart - position, block - position));
      await yielder.check();
      runStart = -1;
    }
    block = blockEnd;
  }
  if (runStart >= 0) await to.write(runStart, chunk.subarray(runStart - position));
}
