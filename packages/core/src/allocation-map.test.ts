import { describe, expect, it } from 'vitest';
import { allocationMap, dataRanges } from './allocation-map.js';
import { AbortedError } from './errors.js';
import { lyingDisk } from './lying-disk.fixture.js';
import { patternedDisk } from './patterned-disk.fixture.js';

const collect = async <T>(iterable: AsyncIterable<T>): Promise<T[]> => {
  const items: T[] = [];
  for await (const item of iterable) items.push(item);
  return items;
};

describe('allocationMap', () => {
  const ranges: Array<[number, number]> = [
    [1024, 3072],
    [8192, 512],
    [12288, 8192],
  ];

  it('gives the runs in order, covering the disk, merged across its windows', async () => {
    const { device } = patternedDisk(32768, ranges);
    // Windows of 2048 bytes cut every data range; the runs must come out whole.
    const runs = await collect(allocationMap(device, { window: 2048 }));
    expect(runs).toEqual([
      { offset: 0, length: 1024, depth: 0, present: true, zero: true, data: false },
      { offset: 1024, length: 3072, depth: 0, present: true, zero: false, data: true, fileOffset: 1_001_024 },
      { offset: 4096, length: 4096, depth: 0, present: true, zero: true, data: false },
      { offset: 8192, length: 512, depth: 0, present: true, zero: false, data: true, fileOffset: 1_008_192 },
      { offset: 8704, length: 3584, depth: 0, present: true, zero: true, data: false },
      { offset: 12288, length: 8192, depth: 0, present: true, zero: false, data: true, fileOffset: 1_012_288 },
      { offset: 20480, length: 12288, depth: 0, present: true, zero: true, data: false },
    ]);
  });

  it('queries the driver one window at a time', async () => {
    const { device } = patternedDisk(32768, ranges);
    const queried: Array<[number, number]> = [];
    const original = device.blockStatus.bind(device);
    device.blockStatus = (offset, length) => {
      queried.push([offset, length]);
      return original(offset, length);
    };
    await collect(allocationMap(device, { window: 8192 }));
    expect(queried).toEqual([
      [0, 8192],
      [8192, 8192],
      [16384, 8192],
      [24576, 8192],
    ]);
  });

  it('covers a range that starts and ends off the alignment', async () => {
    const { device } = patternedDisk(32768, ranges);
    const runs = await collect(allocationMap(device, { offset: 1000, length: 8000, window: 1000 }));
    expect(runs).toEqual([
      { offset: 1000, length: 24, depth: 0, present: true, zero: true, data: false },
      { offset: 1024, length: 3072, depth: 0, present: true, zero: false, data: true, fileOffset: 1_001_024 },
      { offset: 4096, length: 4096, depth: 0, present: true, zero: true, data: false },
      { offset: 8192, length: 512, depth: 0, present: true, zero: false, data: true, fileOffset: 1_008_192 },
      { offset: 8704, length: 296, depth: 0, present: true, zero: true, data: false },
    ]);
  });

  it('keeps data runs apart where the file offsets are not contiguous', async () => {
    const { device } = patternedDisk(8192, [[0, 4096]]);
    const original = device.blockStatus.bind(device);
    // Two runs that touch on the disk but not in the file.
    device.blockStatus = async (offset, length) =>
      (await original(offset, length)).map((run) =>
        run.data && run.offset >= 2048 ? { ...run, fileOffset: (run.fileOffset ?? 0) + 512 } : run,
      );
    const runs = await collect(allocationMap(device, { window: 2048 }));
    expect(runs.map((r) => [r.offset, r.length, r.data])).toEqual([
      [0, 2048, true],
      [2048, 2048, true],
      [4096, 4096, false],
    ]);
  });

  it('stops with AbortedError when its signal fires', async () => {
    const { device } = patternedDisk(32768, ranges);
    const controller = new AbortController();
    const iterator = allocationMap(device, { window: 512, signal: controller.signal });
    await iterator.next();
    controller.abort();
    await expect(collect(iterator)).rejects.toBeInstanceOf(AbortedError);
  });
});

describe('on a device that answers without I/O', () => {
  it('lets a timer abort the walk: the loop yields to the event loop', async () => {
    const { device } = lyingDisk();
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 20);
    // 512 TiB in 512-byte windows: never ends unless the abort's timer gets to run.
    await expect(collect(allocationMap(device, { window: 512, signal: controller.signal }))).rejects.toBeInstanceOf(
      AbortedError,
    );
  });

  it('gives the first data range after one window, not after mapping the whole data region', async () => {
    const disk = lyingDisk();
    const ranges = dataRanges(disk.device, { window: 1 << 20 });
    expect((await ranges.next()).value).toEqual({ offset: 0, length: 1 << 20 });
    expect(disk.statusCalls).toBe(1);
    expect((await ranges.next()).value).toEqual({ offset: 1 << 20, length: 1 << 20 });
    expect(disk.statusCalls).toBe(2);
  });
});
