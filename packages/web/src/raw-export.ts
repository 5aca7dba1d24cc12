import { type BlockDevice, type ByteSource, copyDevice, Registry } from '@vdisk/core';
import { RawDriver } from '@vdisk/format-raw';

/**
 * Where a raw copy of a disk goes. Writes come in ascending order; what is never written
 * reads as zeros, so the copy is sparse wherever the destination can keep holes.
 */
export interface RawSink {
  /** Called once before any write with the file's size: a file sink makes it all hole at once. */
  begin?(size: number): Promise<void>;
  /** Writes `bytes` at `position` of the raw file; the bytes are the caller's again once it resolves. */
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
}

/**
 * A new raw file of `size` bytes whose writes go to a sink. It reads as zeros, as a new
 * file does: copyDevice only writes to its target, and raw needs no read-modify-write.
 */
class SinkSource implements ByteSource {
  readonly size: number;
  readonly #sink: RawSink;

  constructor(sink: RawSink, size: number) {
    this.#sink = sink;
    this.size = size;
  }

  async read(buffer: Uint8Array): Promise<void> {
    buffer.fill(0);
  }

  async write(buffer: Uint8Array, position: number): Promise<void> {
    await this.#sink.write(position, buffer);
  }

  async close(): Promise<void> {}
}

const rawOnly = new Registry([new RawDriver()]);

/**
 * The whole virtual disk as a raw file, streamed into `sink`: core's copyDevice (what
 * `vdisk convert` does) into a raw device over the sink. Holes are not read, data is
 * read 4 MiB at a time, its 4 KiB blocks of zeros are not written, and the event loop
 * gets its turns. On error or cancel the sink is aborted.
 */
export async function exportRaw(device: BlockDevice, sink: RawSink, options: RawExportOptions = {}): Promise<void> {
  const size = device.virtualSize;
  try {
    await sink.begin?.(size);
    const target = await rawOnly.open(new SinkSource(sink, size), { format: 'raw', writable: true });
    try {
      await copyDevice(device, target, { signal: options.signal, onProgress: options.onProgress });
    } finally {
      await target.close();
    }
    await sink.close(size);
  } catch (error) {
    await sink.abort();
    throw error;
  }
}
