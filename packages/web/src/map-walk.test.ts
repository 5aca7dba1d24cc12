import { allocationMap, createRegistry, MemorySource } from '@vdisk/core';
import { bochsModule } from '@vdisk/format-bochs';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { describe, expect, it } from 'vitest';
import { MapWalk, RUNS_PER_CHECKPOINT } from './map-walk.js';

const registry = createRegistry(bochsModule);

describe('MapWalk', () => {
  // 4 KiB extents; every other sector of the first 1000 written: 1000 runs and a hole.
  const disk = 4 * 1024 * 1024;
  const writes = Array.from({ length: 500 }, (_, i) => ({ offset: i * 2 * 512, data: new Uint8Array(512).fill(i) }));
  const open = () => registry.open(new MemorySource(buildBochsImage({ diskSize: disk, writes })));

  // Kept whole (the default), walked from checkpoints (keep 0), and both (keep 300).
  it.each([{}, { keep: 0 }, { keep: 300 }])(
    'gives any rows of the table, as the whole map has them (%j)',
    async (options) => {
      const device = await open();
      const all = [];
      for await (const run of allocationMap(device)) all.push(run);
      expect(all.length).toBeGreaterThan(3 * RUNS_PER_CHECKPOINT);
      const walk = new MapWalk(device, options);
      await walk.walk();
      expect(walk.done).toBe(true);
      expect(walk.runCount).toBe(all.length);
      for (const first of [0, 1, 255, 256, 257, 299, 300, 600, all.length - 3]) {
        expect(await walk.runs(first, 5)).toEqual(all.slice(first, first + 5));
      }
      expect(await walk.runs(all.length + 10, 5)).toEqual([]);
    },
  );

  it.each([{}, { keep: 0 }, { keep: 300 }])('finds the whole run under any byte (%j)', async (options) => {
    const device = await open();
    const all = [];
    for await (const run of allocationMap(device)) all.push(run);
    const walk = new MapWalk(device, options);
    await walk.walk();
    for (const offset of [0, 511, 512, 1536 + 100, 299 * 512, 300 * 512 + 1, 700 * 512, disk - 1]) {
      const expected = all.find((run) => run.offset <= offset && offset < run.offset + run.length);
      expect(await walk.runAt(offset)).toEqual(expected);
    }
  });
});
