import { Readable } from 'node:stream';
import type { BlockDevice } from '../block-device.js';
import { AbortedError } from '../errors.js';
import { resolveStreamRange, type StreamRangeOptions } from './stream-range.js';

export interface ReadStreamOptions extends StreamRangeOptions {
  /**
   * Bytes buffered ahead of the consumer before reading pauses. Default: one chunk, so a
   * slow consumer never has more than two chunks in memory.
   */
  highWaterMark?: number;
}

/**
 * A Node `Readable` of the virtual disk, or of `[offset, offset + length)`. It pulls: each
 * `_read` reads one chunk from the device and pushes it, and Node calls `_read` again only
 * when the consumer has taken enough to bring the buffer below `highWaterMark`. Aborting
 * `signal` destroys the stream with an `AbortedError`.
 */
export function createReadStream(device: BlockDevice, options: ReadStreamOptions = {}): Readable {
  const { offset, end, chunkSize, signal } = resolveStreamRange(device, options, ['highWaterMark']);
  let position = offset;
  const onAbort = () => stream.destroy(new AbortedError());
  const stream = new Readable({
    highWaterMark: options.highWaterMark ?? chunkSize,
    read() {
      if (signal?.aborted) {
        this.destroy(new AbortedError());
        return;
      }
      if (position >= end) {
        this.push(null);
        return;
      }
      const length = Math.min(chunkSize, end - position);
      const at = position;
      position += length;
      const chunk = Buffer.allocUnsafe(length);
      device.readInto(chunk, at).then(
        () => {
          if (this.destroyed) return;
          // An abort that came while the read was in flight wins over its data.
          if (signal?.aborted) this.destroy(new AbortedError());
          else this.push(chunk);
        },
        (error: unknown) => this.destroy(error as Error),
      );
    },
    destroy(error, callback) {
      signal?.removeEventListener('abort', onAbort);
      callback(error);
    },
  });
  if (signal?.aborted) process.nextTick(onAbort);
  else signal?.addEventListener('abort', onAbort, { once: true });
  return stream;
}
