import { Readable } from 'node:stream';
import { dataRanges } from '../allocation-map.js';
import type { BlockDevice } from '../block-device.js';
import { AbortedError, throwIfAborted } from '../errors.js';
import { EventLoopYielder } from '../event-loop-yielder.js';
import { resolveStreamRange, type StreamRangeOptions } from './stream-range.js';

/** A piece of the disk that holds data: `data` is the virtual disk at `offset`. */
export interface DataChunk {
  offset: number;
  data: Uint8Array;
}

/**
 * The data of the disk (or of a range), without its holes: chunks of at most `chunkSize`
 * bytes, in order, for the runs the allocation map calls data. Everything else reads as
 * zeros. It reads only when the consumer asks for the next chunk.
 */
export async function* readDataChunks(
  device: BlockDevice,
  options: StreamRangeOptions = {},
): AsyncGenerator<DataChunk, void, undefined> {
  const { offset, end, chunkSize, signal } = resolveStreamRange(device, options);
  // A device that answers without I/O would otherwise never let an abort's timer run.
  const yielder = new EventLoopYielder(signal);
  for await (const range of dataRanges(device, { offset, length: end - offset, signal })) {
    for (let position = range.offset; position < range.offset + range.length; position += chunkSize) {
      await yielder.check();
      const length = Math.min(chunkSize, range.offset + range.length - position);
      const data = await device.read(position, length);
      throwIfAborted(signal);
      yield { offset: position, data };
    }
  }
}

export interface SparseStreamOptions extends StreamRangeOptions {
  /** Chunks buffered ahead of the consumer. Default 1. */
  highWaterMark?: number;
}

/**
 * `readDataChunks` as an object-mode `Readable` of `{ offset, data }`. Aborting `signal`
 * destroys it with an `AbortedError`, even while no one is reading.
 */
export function createSparseStream(device: BlockDevice, options: SparseStreamOptions = {}): Readable {
  resolveStreamRange(device, options, ['highWaterMark']); // a bad range or key fails here, at creation
  const { highWaterMark: _, ...range } = options;
  const chunks = readDataChunks(device, range);
  const stream = Readable.from(chunks, { objectMode: true, highWaterMark: options.highWaterMark ?? 1 });
  const { signal } = options;
  if (signal) {
    const onAbort = () => stream.destroy(new AbortedError());
    if (signal.aborted) process.nextTick(onAbort);
    else signal.addEventListener('abort', onAbort, { once: true });
    stream.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return stream;
}
