import { allocationMap, type BlockStatusRun, createRegistry, MemorySource } from '@vdisk/core';
import { bochsModule } from '@vdisk/format-bochs';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { describe, expect, it } from 'vitest';
import { MAP_SEGMENT, mapRuns } from './map-runs.js';

const registry = createRegistry(bochsModule);

async function all(runs: AsyncIterable<BlockStatusRun>): Promise<BlockStatusRun[]> {
  const out: BlockStatusRun[] = [];
  for await (const run of runs) out.push(run);
  return out;
}

describe('mapRuns', () => {
  // Three segments: a hole across the first boundary, data on both sides of the second.
  const disk = 3 * MAP_SEGMENT;
  const sector = (byte: number) => new Uint8Array(512).fill(byte);
  const writes = [
    { offset: 4096, data: sector(1) },
    { offset: 1.5 * MAP_SEGMENT, data: sector(2) },
    { offset: 2 * MAP_SEGMENT - 512, data: sector(3) },
    { offset: 2 * MAP_SEGMENT + 4096, data: sector(4) },
  ];
  const open = () => registry.open(new MemorySource(buildBochsImage({ diskSize: disk, writes })));

  it('gives the runs the whole allocationMap walk gives, merged across segments', async () => {
    const device = await open();
    const expected = await all(allocationMap(device));
    expect(expected.some((run) => run.offset < MAP_SEGMENT && run.offset + run.length > MAP_SEGMENT)).toBe(true);
    expect(await all(mapRuns(device))).toEqual(expected);
  });

  it('starting at any run, gives the runs from there on', async () => {
    const device = await open();
    const expected = await all(allocationMap(device));
    for (let i = 0; i < expected.length; i++) {
      expect(await all(mapRuns(device, { offset: (expected[i] as BlockStatusRun).offset }))).toEqual(expected.slice(i));
    }
  });

  it('lets a timer run during a walk over holes alone', async () => {
    // 8 TiB of holes: one run, 131072 windows of allocationMap without any I/O.
    const header = buildBochsImage({ diskSize: 8 * 2 ** 40, catalogSize: 0x100000, extentSize: 8 * 2 ** 20 });
    const device = await registry.open(new MemorySource(header.subarray(0, 512)));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    try {
      expect(await all(mapRuns(device))).toEqual([
        // A Bochs growing image has no parent: its holes are present zeros (qemu-img's model).
        { offset: 0, length: 8 * 2 ** 40, depth: 0, present: true, zero: true, data: false },
      ]);
    } finally {
      clearInterval(timer);
    }
    expect(ticks).toBeGreaterThan(2);
  });
});
