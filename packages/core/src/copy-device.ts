import { ZeroScan } from './all-zero.js';
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

/** Bytes read and written per step. */
const CHUNK_SIZE = 4 * 1024 * 1024;
/**
 * Chunks whose writes may be in flight at once (qemu-img convert keeps 8 requests in
 * flight, `-m`). Peak memory: this many chunks plus the one being read, 20 MiB.
 */
const CHUNKS_IN_FLIGHT = 4;
/** Driver writes running at once; more wait their turn, in the order they were issued. */
const WRITES_IN_FLIGHT = 8;
/** The map is asked one window at a time, so that a huge sparse disk still lets the event loop run. */
const MAP_SEGMENT = 64 * 1024 * 1024;
/** qemu-img's largest `-S`. */
const MAX_GRANULARITY = 16 * 1024 * 1024;

/**
 * Copies the virtual disk of `from` into `to`, which is assumed to read as zeros (a new
 * image): qemu-img convert's sparse copy. Holes of `from`'s map are not read, and blocks of
 * zeros in its data are not written, so the target stays sparse. The next chunk is read
 * while earlier ones are written, and a few writes run at once, as qemu-img's do; writes
 * are issued in ascending offset order (a format that allocates as it goes, like Bochs,
 * reserves its slots in that order, so they lay out in disk order, as bximage's do).
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
  const queue = new WriteQueue(to, WRITES_IN_FLIGHT);
  const spare: Uint8Array[] = [];
  /** What is in flight, oldest first: each chunk's writes (or a stretch of holes), and where the disk is done when they are. */
  const inFlight: Array<{ written: Promise<void>; end: number }> = [];
  let reported = -1;
  const report = (done: number) => {
    if (done <= reported) return; // each point once: a hole's marker can end where a chunk did
    reported = done;
    onProgress?.(done, total);
  };
  const settleOldest = async () => {
    const oldest = inFlight.shift();
    if (!oldest) return;
    await oldest.written;
    report(oldest.end);
  };

  const copyRange = async (offset: number, length: number) => {
    const end = offset + length;
    for (let position = offset; position < end; ) {
      await yielder.check();
      let stop = Math.min(end, position + chunkSize);
      if (granularity > 0 && stop < end && stop % granularity !== 0) {
        const boundary = stop - (stop % granularity);
        if (boundary > position) stop = boundary;
      }
      while (inFlight.length >= CHUNKS_IN_FLIGHT) await settleOldest();
      const buffer = spare.pop() ?? new Uint8Array(Math.min(chunkSize, total));
      const chunk = buffer.subarray(0, stop - position);
      await from.readInto(chunk, position); // while earlier chunks are being written
      const written = (
        granularity > 0 ? writeNonZero(queue, chunk, position, granularity) : queue.write(position, chunk)
      )
        // The buffer is read again only once its writes are over.
        .finally(() => spare.push(buffer));
      // Marked as handled: if a read fails first, this rejection is not left unhandled.
      written.catch(() => {});
      inFlight.push({ written, end: stop });
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
        inFlight.push({ written: Promise.resolve(), end: segment + length });
      }
    }
    while (inFlight.length > 0) await settleOldest();
    // An abort while the last writes were finishing (from a progress callback, say) still
    // counts: the caller asked to stop before it was told the copy was done.
    await yielder.check();
  } finally {
    // Never leave a write running behind the caller's back, even when the copy failed.
    await Promise.allSettled(inFlight.map(({ written }) => written));
  }
  report(total);
}

/**
 * Issues the writes of the runs of `chunk` (at `position` of the disk) that are not whole
 * zero blocks, in ascending order, all before it returns; resolves when they are done
 * (and only then rejects, if one failed: the chunk's buffer is free when it settles).
 */
function writeNonZero(queue: WriteQueue, chunk: Uint8Array, position: number, granularity: number): Promise<void> {
  const end = position + chunk.length;
  const scan = new ZeroScan(chunk);
  const writes: Promise<void>[] = [];
  let runStart = -1;
  let block = position;
  // Blocks are aligned on the disk: the first may be short, then whole ones.
  let blockEnd = Math.min(end, position - (position % granularity) + granularity);
  while (block < end) {
    const isData = !scan.isZero(block - position, blockEnd - position);
    if (isData && runStart < 0) runStart = block;
    if (!isData && runStart >= 0) {
      writes.push(queue.write(runStart, chunk.subarray(runStart - position, block - position)));
      runStart = -1;
    }
    block = blockEnd;
    blockEnd = Math.min(end, blockEnd + granularity);
  }
  if (runStart >= 0) writes.push(queue.write(runStart, chunk.subarray(runStart - position)));
  return settleAll(writes);
}

/** Resolves when every one of `writes` has ended, rejecting with the first failure only then: none is left running. */
async function settleAll(writes: readonly Promise<void>[]): Promise<void> {
  const results = await Promise.allSettled(writes);
  const failed = results.find((result) => result.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Writes to a device, at most `limit` at once: a write issued when the limit is reached
 * starts when an earlier one ends, and writes start in the order they were issued.
 */
class WriteQueue {
  readonly #device: BlockDevice;
  readonly #limit: number;
  #running = 0;
  readonly #waiting: Array<() => void> = [];

  constructor(device: BlockDevice, limit: number) {
    this.#device = device;
    this.#limit = limit;
  }

  async write(offset: number, bytes: Uint8Array): Promise<void> {
    if (this.#running >= this.#limit || this.#waiting.length > 0) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    } else {
      this.#running++;
    }
    try {
      await this.#device.write(offset, bytes);
    } finally {
      const next = this.#waiting.shift();
      // The slot passes to the next write in line, or is given back.
      if (next) next();
      else this.#running--;
    }
  }
}
