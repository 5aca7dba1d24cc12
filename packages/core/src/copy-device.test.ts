import { describe, expect, it } from 'vitest';
import { BlockDevice } from './block-device.js';
import { copyDevice } from './copy-device.js';
import type { BlockDriver, DriverImage } from './driver.js';
import { AbortedError, InvalidArgumentError, OutOfRangeError, ReadOnlyError } from './errors.js';
import { MemorySource } from './memory-source.js';
import { patternedDisk } from './patterned-disk.fixture.js';

interface Target {
  device: BlockDevice;
  bytes: Uint8Array;
  /** Every driver write, as [offset, length], in the order they began. */
  writes: Array<[number, number]>;
  /** Events in order: `write start OFFSET`, `write end OFFSET`. */
  events: string[];
}

/** A new image in memory, reading as zeros, whose driver records its writes. */
function target(size: number, options: { alignment?: number; slow?: boolean; writable?: boolean } = {}): Target {
  const bytes = new Uint8Array(size);
  const writes: Array<[number, number]> = [];
  const events: string[] = [];
  const image: DriverImage = {
    virtualSize: size,
    requestAlignment: options.alignment ?? 1,
    async readv(offset, buffers) {
      let at = offset;
      for (const buffer of buffers) {
        buffer.set(bytes.subarray(at, at + buffer.length));
        at += buffer.length;
      }
    },
    async close() {},
  };
  const driver: BlockDriver = {
    name: 'target',
    probe: () => 0,
    open: async () => image,
    async write(_image, offset, buffers) {
      const length = buffers.reduce((n, b) => n + b.length, 0);
      writes.push([offset, length]);
      events.push(`write start ${offset}`);
      if (options.slow) await new Promise((resolve) => setTimeout(resolve, 2));
      let at = offset;
      for (const buffer of buffers) {
        bytes.set(buffer, at);
        at += buffer.length;
      }
      events.push(`write end ${offset}`);
    },
  };
  const device = new BlockDevice(driver, image, new MemorySource(), { writable: options.writable ?? true });
  return { device, bytes, writes, events };
}

const MiB = 1024 * 1024;
const sameBytes = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

describe('copyDevice', () => {
  it('copies the disk exactly, reading only its data ranges and writing no zero block', async () => {
    const source = patternedDisk(16 * MiB, [
      [0, 4096],
      [3 * MiB, 6 * MiB], // longer than one chunk
      [15 * MiB, MiB],
    ]);
    source.expected.fill(0, 4 * MiB, 4 * MiB + 8192); // zeros inside data
    const out = target(16 * MiB);
    await copyDevice(source.device, out.device);
    expect(sameBytes(out.bytes, source.expected)).toBe(true);
    for (const [offset, length] of source.reads) {
      expect(offset === 0 || (offset >= 3 * MiB && offset + length <= 9 * MiB) || offset >= 15 * MiB).toBe(true);
    }
    expect(out.writes).toEqual([
      [0, 4096],
      [3 * MiB, MiB],
      [4 * MiB + 8192, 3 * MiB - 8192], // chunks are 4 MiB: [3, 7) and [7, 9) MiB
      [7 * MiB, 2 * MiB],
      [15 * MiB, MiB],
    ]);
  });

  it("skips single zero sectors with a granularity of 512, as bximage's convert does", async () => {
    const source = patternedDisk(64 * 1024, [[0, 32 * 1024]]);
    source.expected.fill(0, 0, 512); // an extent that begins with a zero sector
    source.expected.fill(0, 1024, 4096); // and zero sectors between data
    const sectors = target(64 * 1024);
    await copyDevice(source.device, sectors.device, { zeroGranularity: 512 });
    expect(sectors.writes).toEqual([
      [512, 512],
      [4096, 28 * 1024],
    ]);
    expect(sameBytes(sectors.bytes, source.expected)).toBe(true);

    const blocks = target(64 * 1024);
    await copyDevice(source.device, blocks.device); // 4 KiB: the first block has data, so it is written whole
    expect(blocks.writes).toEqual([[0, 32 * 1024]]);
  });

  it('judges zero blocks whole, aligned to the granularity on the disk', async () => {
    // Data from 1536: the block [0, 4096) is judged by its part in the range, and the
    // chunk that ends at 4 MiB + 1536 is cut back to 4 MiB, so no block is split.
    const source = patternedDisk(12 * MiB, [[1536, 8 * MiB]]);
    source.expected.fill(0, 4 * MiB - 512, 4 * MiB + 4096); // the block at 4 MiB is zero, its neighbour is not
    const out = target(12 * MiB);
    await copyDevice(source.device, out.device);
    expect(out.writes).toEqual([
      [1536, 4 * MiB - 1536], // ends with the block [4 MiB - 4096, 4 MiB), zeros and all
      [4 * MiB + 4096, 4 * MiB - 4096],
      [8 * MiB, 1536],
    ]);
    expect(sameBytes(out.bytes, source.expected)).toBe(true);
  });

  it('starts writes in ascending order, several at once but never more than eight, while later chunks are read', async () => {
    const source = patternedDisk(24 * MiB, [[0, 24 * MiB]]);
    for (let m = 1; m < 24; m += 2) source.expected.fill(0, m * MiB, m * MiB + 4096); // many runs
    const out = target(24 * MiB, { slow: true });
    const readsDuringWrites: number[] = [];
    const readv = source.device.image.readv;
    (source.device.image as { readv: DriverImage['readv'] }).readv = async (offset, buffers) => {
      if (out.events.length > 0 && out.events.at(-1)?.startsWith('write start')) readsDuringWrites.push(offset);
      return readv(offset, buffers);
    };
    await copyDevice(source.device, out.device);
    const offsets = out.writes.map(([offset]) => offset);
    expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    let running = 0;
    let most = 0;
    for (const event of out.events) {
      running += event.startsWith('write start') ? 1 : -1;
      most = Math.max(most, running);
    }
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(8);
    expect(readsDuringWrites.length).toBeGreaterThan(0);
    expect(sameBytes(out.bytes, source.expected)).toBe(true);
  });

  it('stops at a failed write and leaves none running when it rejects', async () => {
    // Runs of 1 MiB (less a zero block), four to a chunk: the second run of the last chunk
    // fails at once while its neighbours are still being written or waiting their turn.
    const source = patternedDisk(24 * MiB, [[0, 24 * MiB]]);
    for (let m = 1; m < 24; m++) source.expected.fill(0, m * MiB - 4096, m * MiB);
    const out = target(24 * MiB, { slow: true });
    const write = out.device.driver.write as NonNullable<BlockDriver['write']>;
    (out.device.driver as { write: BlockDriver['write'] }).write = async (image, offset, buffers, options) => {
      if (offset === 21 * MiB) throw new Error('disk full');
      return write(image, offset, buffers, options);
    };
    await expect(copyDevice(source.device, out.device)).rejects.toThrow('disk full');
    const starts = out.events.filter((event) => event.startsWith('write start')).length;
    const ends = out.events.filter((event) => event.startsWith('write end')).length;
    expect(ends).toBe(starts);
    expect(Math.max(...out.writes.map(([offset]) => offset))).toBeLessThan(24 * MiB);
  });

  it('reports progress up to the whole disk', async () => {
    const source = patternedDisk(10 * MiB, [[MiB, 9 * MiB]]);
    const progress: Array<[number, number]> = [];
    await copyDevice(source.device, target(10 * MiB).device, {
      onProgress: (done, total) => progress.push([done, total]),
    });
    expect(progress.at(-1)).toEqual([10 * MiB, 10 * MiB]);
    const dones = progress.map(([done]) => done);
    expect(dones).toEqual([...new Set(dones)].sort((a, b) => a - b)); // rising, each point once
    expect(progress.every(([, total]) => total === 10 * MiB)).toBe(true);
  });

  it('moves progress across holes, a map segment at a time', async () => {
    // 256 MiB with one data block, in no memory: reads give 0xff, writes go nowhere.
    const size = 256 * MiB;
    const image: DriverImage = {
      virtualSize: size,
      requestAlignment: 512,
      readv: async (_offset, buffers) => {
        for (const buffer of buffers) buffer.fill(0xff);
      },
      close: async () => {},
    };
    const written: number[] = [];
    const driver: BlockDriver = {
      name: 'sparse',
      probe: () => 0,
      open: async () => image,
      blockStatus: async (_image, offset, length) =>
        [
          { offset, length: Math.max(0, Math.min(200 * MiB, offset + length) - offset), data: false },
          { offset: 200 * MiB, length: 4096, data: true },
          { offset: 200 * MiB + 4096, length: offset + length - 200 * MiB - 4096, data: false },
        ].filter((run) => run.length > 0 && run.offset >= offset && run.offset < offset + length),
      write: async (_image, offset) => void written.push(offset),
    };
    const progress: number[] = [];
    await copyDevice(
      new BlockDevice(driver, image, new MemorySource()),
      new BlockDevice(driver, image, new MemorySource(), { writable: true }),
      { onProgress: (done) => progress.push(done) },
    );
    expect(written).toEqual([200 * MiB]);
    expect(progress).toContain(64 * MiB);
    expect(progress).toContain(128 * MiB);
    expect(progress.at(-1)).toBe(size);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
  });

  it('writes every byte, holes included, with a granularity of 0', async () => {
    const source = patternedDisk(8192, [[4096, 512]]);
    const out = target(8192);
    out.bytes.fill(0xee); // a target that does not read as zeros gets them all the same
    await copyDevice(source.device, out.device, { zeroGranularity: 0 });
    expect(out.writes).toEqual([[0, 8192]]);
    expect(sameBytes(out.bytes, source.expected)).toBe(true);
  });

  it('stops at an abort before writing anything, and refuses bad targets and granularities', async () => {
    const source = patternedDisk(MiB, [[0, MiB]]);
    const out = target(MiB);
    await expect(copyDevice(source.device, out.device, { signal: AbortSignal.abort() })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(out.writes).toEqual([]);
    await expect(copyDevice(source.device, target(MiB - 512).device)).rejects.toBeInstanceOf(OutOfRangeError);
    await expect(copyDevice(source.device, target(MiB, { writable: false }).device)).rejects.toBeInstanceOf(
      ReadOnlyError,
    );
    for (const zeroGranularity of [-1, 1.5, 32 * MiB]) {
      await expect(copyDevice(source.device, out.device, { zeroGranularity })).rejects.toBeInstanceOf(
        InvalidArgumentError,
      );
    }
  });

  it('sees an abort from a timer even when no I/O ever waits (a huge disk of holes in memory)', async () => {
    // 1 PiB of holes: every map query answers at once, without I/O, 16 million of them.
    const size = 2 ** 50;
    const image: DriverImage = {
      virtualSize: size,
      requestAlignment: 512,
      readv: async () => {},
      close: async () => {},
    };
    const holes: BlockDriver = {
      name: 'holes',
      probe: () => 0,
      open: async () => image,
      blockStatus: async (_image, offset, length) => [{ offset, length, data: false }],
      write: async () => {},
    };
    const source = new BlockDevice(holes, image, new MemorySource());
    const out = new BlockDevice(holes, image, new MemorySource(), { writable: true });
    const started = Date.now();
    await expect(copyDevice(source, out, { signal: AbortSignal.timeout(20) })).rejects.toBeInstanceOf(AbortedError);
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it('sees an abort from a timer while copying data held in memory', async () => {
    const source = patternedDisk(64 * MiB, [[0, 64 * MiB]]);
    const out = target(64 * MiB);
    await expect(copyDevice(source.device, out.device, { signal: AbortSignal.timeout(10) })).rejects.toBeInstanceOf(
      AbortedError,
    );
    expect(out.writes.length).toBeLessThan(16);
  });
});
