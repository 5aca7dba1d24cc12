import type { BlockDevice } from '../block-device.js';
import { InvalidArgumentError, OutOfRangeError } from '../errors.js';
import { assertExactRange } from '../exact-offset.js';

export interface StreamRangeOptions {
  /** First byte of the virtual disk to stream. Default 0. */
  offset?: number;
  /** Bytes to stream. Default: to the end of the disk. */
  length?: number;
  /** Bytes read from the device at a time. Default 1 MiB. */
  chunkSize?: number;
  /** Aborting it ends the stream with an `AbortedError`. */
  signal?: AbortSignal;
}

export const DEFAULT_CHUNK_SIZE = 1024 * 1024;

/** The keys every stream function takes; each adds its own (highWaterMark). */
const RANGE_KEYS = ['offset', 'length', 'chunkSize', 'signal'];

/**
 * Validates a stream's range up front, so a bad range fails at creation, not mid-stream.
 * An unknown key is refused: `{ start, end }` (fs.createReadStream's words) would
 * otherwise be ignored, and the whole disk streamed.
 */
export function resolveStreamRange(
  device: BlockDevice,
  options: StreamRangeOptions,
  extraKeys: readonly string[] = [],
): { offset: number; end: number; chunkSize: number; signal: AbortSignal | undefined } {
  for (const key of Object.keys(options)) {
    if (!RANGE_KEYS.includes(key) && !extraKeys.includes(key)) {
      throw new InvalidArgumentError(
        `Unknown stream option '${key}' (the range is { offset, length }; options: ${[...RANGE_KEYS, ...extraKeys].join(', ')})`,
      );
    }
  }
  const offset = options.offset ?? 0;
  const length = options.length ?? Math.max(0, device.virtualSize - offset);
  assertExactRange(offset, length, 'Stream');
  if (offset + length > device.virtualSize) {
    throw new OutOfRangeError(
      `Stream of ${length} bytes at offset ${offset} is beyond the end of the image (virtual size ${device.virtualSize})`,
    );
  }
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1) {
    throw new InvalidArgumentError(`Chunk size ${chunkSize} is not a positive integer`);
  }
  return { offset, end: offset + length, chunkSize, signal: options.signal };
}
