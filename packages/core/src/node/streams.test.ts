import type { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AbortedError, OutOfRangeError } from '../errors.js';
import { lyingDisk } from '../lying-disk.fixture.js';
import { patternedDisk } from '../patterned-disk.fixture.js';
import { createReadStream } from './read-stream.js';
import { createSparseStream, type DataChunk, readDataChunks } from './sparse-stream.js';

const tick = () => new Promise((resolve) => setImmediate(resolve));

async function concat(stream: Readable): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return new Uint8Array(Buffer.concat(chunks));
}

const RANGES: Array<[number, number]> = [
  [4096, 8192],
  [65536, 512],
  [100352, 30720],
];

describe('createReadStream', () => {
  it('streams the whole disk', async () => {
    const { device, expected } = patternedDisk(131072, RANGES);
    expect(await concat(createReadStream(device, { chunkSize: 5000 }))).toEqual(expected);
  });

  it('streams a range at any offset and length', async () => {
    const { device, expected } = patternedDisk(131072, RANGES);
    const stream = createReadStream(device, { offset: 4000, length: 70001, chunkSize: 4096 });
    expect(await concat(stream)).toEqual(expected.subarray(4000, 74001));
  });

  it('refuses a range past the end of the disk at creation', () => {
    const { device } = patternedDisk(131072, RANGES);
    expect(() => createReadStream(device, { offset: 131072, length: 1 })).toThrow(OutOfRangeError);
  });

  it('reads ahead no more than highWaterMark plus one chunk of a slow consumer', async () => {
    const { device, reads } = patternedDisk(1024 * 1024, RANGES);
    const chunkSize = 16384;
    const highWaterMark = 32768;
    const stream = createReadStream(device, { chunkSize, highWaterMark });
    const readBytes = () => reads.reduce((sum, [, length]) => sum + length, 0);
    let consumed = 0;
    let worst = 0;
    for await (const chunk of stream) {
      consumed += (chunk as Buffer).length;
      // The consumer dawdles: the stream has every chance to read ahead if it would.
      for (let i = 0; i < 20; i++) {
        await tick();
        worst = Math.max(worst, readBytes() - consumed);
      }
    }
    expect(consumed).toBe(1024 * 1024);
    expect(worst).toBeLessThanOrEqual(highWaterMark + chunkSize);
    // And it did read ahead: the buffer is used, not one chunk per request.
    expect(worst).toBeGreaterThan(chunkSize);
  });

  it('ends with AbortedError when its signal fires mid-way', async () => {
    const { device, reads } = patternedDisk(1024 * 1024, RANGES);
    const controller = new AbortController();
    const stream = createReadStream(device, { chunkSize: 4096, signal: controller.signal });
    const iterate = (async () => {
      for await (const _ of stream) controller.abort();
    })();
    await expect(iterate).rejects.toBeInstanceOf(AbortedError);
    expect(reads.length).toBeLessThan(256);
  });

  it('ends with AbortedError when its signal has fired already', async () => {
    const { device, reads } = patternedDisk(65536, RANGES);
    const stream = createReadStream(device, { signal: AbortSignal.abort() });
    await expect(concat(stream)).rejects.toBeInstanceOf(AbortedError);
    expect(reads).toEqual([]);
  });

  it('passes a read error on as the stream error', async () => {
    const { device } = patternedDisk(65536, RANGES);
    device.image.readv = () => Promise.reject(new OutOfRangeError('boom'));
    await expect(concat(createReadStream(device))).rejects.toThrow('boom');
  });
});

describe('readDataChunks and createSparseStream', () => {
  it('yield only the data, with offsets, and zeros elsewhere rebuild the disk', async () => {
    const { device, expected } = patternedDisk(131072, RANGES);
    const chunks: DataChunk[] = [];
    for await (const chunk of readDataChunks(device, { chunkSize: 4096 })) chunks.push(chunk);
    expect(chunks.map((c) => [c.offset, c.data.length])).toEqual([
      [4096, 4096],
      [8192, 4096],
      [65536, 512],
      ...Array.from({ length: 7 }, (_, i) => [100352 + 4096 * i, 4096]),
      [129024, 2048],
    ]);
    const rebuilt = new Uint8Array(131072);
    for (const { offset, data } of chunks) rebuilt.set(data, offset);
    expect(rebuilt).toEqual(expected);
  });

  it('clip to a range', async () => {
    const { device, expected } = patternedDisk(131072, RANGES);
    const chunks: DataChunk[] = [];
    for await (const chunk of readDataChunks(device, { offset: 10000, length: 60000 })) chunks.push(chunk);
    expect(chunks.map((c) => [c.offset, c.data.length])).toEqual([
      [10000, 2288],
      [65536, 512],
    ]);
    expect(chunks[0]?.data).toEqual(expected.subarray(10000, 12288));
  });

  it('never read the holes', async () => {
    const { device, reads } = patternedDisk(131072, RANGES);
    for await (const _ of readDataChunks(device)) {
      // drain
    }
    expect(reads).toEqual(RANGES);
  });

  it('stream as objects and end with AbortedError when aborted', async () => {
    const { device } = patternedDisk(131072, RANGES);
    const controller = new AbortController();
    const stream = createSparseStream(device, { chunkSize: 512, signal: controller.signal });
    const seen: number[] = [];
    const iterate = (async () => {
      for await (const chunk of stream) {
        seen.push((chunk as DataChunk).offset);
        if (seen.length === 3) controller.abort();
      }
    })();
    await expect(iterate).rejects.toBeInstanceOf(AbortedError);
    expect(seen).toEqual([4096, 4608, 5120]);
  });
});

describe('readDataChunks on touching data runs', () => {
  it('reads data runs that touch on the disk as one range, even when apart in the file', async () => {
    const { device, reads } = patternedDisk(16384, [[0, 8192]]);
    const original = device.blockStatus.bind(device);
    // Split the data in two runs, the second elsewhere in the file.
    device.blockStatus = async (offset, length) =>
      (await original(offset, length)).flatMap((run) =>
        run.data && run.offset < 4096 && run.offset + run.length > 4096
          ? [
              { ...run, length: 4096 - run.offset },
              { offset: 4096, length: run.offset + run.length - 4096, data: true, fileOffset: 5_000_000 },
            ]
          : [run],
      );
    const chunks: DataChunk[] = [];
    for await (const chunk of readDataChunks(device)) chunks.push(chunk);
    expect(chunks.map((c) => [c.offset, c.data.length])).toEqual([[0, 8192]]);
    expect(reads).toEqual([[0, 8192]]);
  });
});

describe('readDataChunks on a device that answers without I/O', () => {
  it('ends with AbortedError when a timer aborts it: the loop yields to the event loop', async () => {
    const { device } = lyingDisk();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    const consume = async () => {
      for await (const _chunk of readDataChunks(device, { chunkSize: 512, signal: controller.signal })) {
        // every chunk is already resolved: nothing here yields either
      }
    };
    await expect(consume()).rejects.toBeInstanceOf(AbortedError);
  });

  it('gives its first chunk after one map window', async () => {
    const disk = lyingDisk();
    const first = await readDataChunks(disk.device).next();
    expect(first.value?.offset).toBe(0);
    expect(disk.statusCalls).toBe(1);
  });
});

describe('stream options', () => {
  it('refuse keys they do not know, such as fs.createReadStream’s start and end', async () => {
    const { device } = patternedDisk(8192, []);
    const options = { start: 0, end: 511 } as unknown as { offset: number };
    expect(() => createReadStream(device, options)).toThrow("Unknown stream option 'start'");
    expect(() => createSparseStream(device, options)).toThrow("Unknown stream option 'start'");
    await expect(readDataChunks(device, options).next()).rejects.toThrow("Unknown stream option 'start'");
    expect(() => createReadStream(device, { offset: 0, length: 512, highWaterMark: 512 })).not.toThrow();
  });
});
