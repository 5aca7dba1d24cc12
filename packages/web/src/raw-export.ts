import { allocationMap, type BlockDevice, throwIfAborted } from '@vdisk/core';
import { withBreaks } from './event-loop.js';

/**
 * Where a raw copy of a disk goes. Positions only grow; what is never written reads as
 * zeros, so the copy is sparse wherever the destination can keep holes.
 */
export interface RawSink {
  /** Called once before any write with the file's size: a file sink makes it all hole at once. */
  begin?(size: number): Promise<void>;
  /** Writes `bytes` at `position` of the raw file. */
  write(position: number, bytes: Uint8Array): Promise<void>;
  /** Ends the file at `size` bytes (zeros after the last write) and keeps it. */
  close(size: number): Promise<void>;
  /** Throws the partial file away. */
  abort(): Promise<void>;
}

export interface RawExportOptions {
  signal?: AbortSignal;
  /** Bytes of the virtual disk done so far, and the total. */
  onProgress?(done: number, total: number): void;
  /** The largest read, in bytes (default 1 MiB): memory held at once. */
  chunk?: number;
}

/** convert's zero detection: a 4 KiB block of zeros inside data is not written. */
export const ZERO_GRANULARITY = 4096;

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

/**
 * The whole virtual disk as a raw file, streamed into `sink` in one pass: holes are not
 * read at all (the map with want_zero off, as qemu-img convert asks for it, says where
 * they are), data is read a chunk at a time, and its 4 KiB blocks of zeros are skipped.
 * On error or cancel the sink is aborted.
 */
export async function exportRaw(device: BlockDevice, sink: RawSink, options: RawExportOptions = {}): Promise<void> {
  const chunk = options.chunk ?? 1024 * 1024;
  const total = device.virtualSize;
  try {
    await sink.begin?.(total);
    for await (const run of withBreaks(allocationMap(device, { wantZero: false, signal: options.signal }))) {
      if (run.data) {
        for (let position = run.offset; position < run.offset + run.length; ) {
          throwIfAborted(options.signal);
          const length = Math.min(chunk, run.offset + run.length - position);
          const bytes = await device.read(position, length);
          // Write the stretches between zero blocks, each in one call.
          let start = -1;
          for (let block = 0; block < length; block += ZERO_GRANULARITY) {
            const zero = isZero(bytes.subarray(block, block + ZERO_GRANULARITY));
            if (!zero && start < 0) start = block;
            if (zero && start >= 0) {
              await sink.write(position + start, bytes.subarray(start, block));
              start = -1;
            }
          }
          if (start >= 0) await sink.write(position + start, bytes.subarray(start));
          position += length;
          options.onProgress?.(position, total);
        }
      } else {
        options.onProgress?.(run.offset + run.length, total);
      }
    }
    throwIfAborted(options.signal);
    await sink.close(total);
  } catch (error) {
    await sink.abort();
    throw error;
  }
}
