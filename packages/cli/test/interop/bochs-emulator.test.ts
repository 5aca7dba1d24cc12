/**
 * Bochs 2.7 itself against vdisk's growing images: a guest reads with INT 13h what vdisk
 * wrote, and vdisk reads what a guest wrote through Bochs at run time.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemorySource, Registry } from '@vdisk/core';
import { PowerLossSource } from '@vdisk/core/testing';
import { BochsDriver } from '@vdisk/format-bochs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  bochsReadSectors,
  bochsWriteSectors,
  describeEmulator,
  guestSector,
  type SectorRange,
} from './bochs-emulator.js';
import { seededBytes } from './disk-contents.js';
import { bximageCreatedSize } from './image-set.js';
import { createWithLibrary, editWithLibrary, sameExceptRange } from './library-bochs.js';
import { bximageCreate, makeScratchDir, removeScratchDir } from './peers.js';

const SECTOR = 512;
const SIZE = bximageCreatedSize(10); // 20 cylinders of 16 * 63 sectors; 16 KiB extents
const LAST = SIZE / SECTOR - 1;
const driver = new BochsDriver();
const registry = new Registry([driver]);

/** The whole virtual disk of a Bochs image file, as vdisk reads it. */
async function vdiskRead(path: string): Promise<Uint8Array> {
  const device = await registry.open(new MemorySource(await readFile(path)), { format: 'bochs' });
  try {
    expect((await device.check()).problems).toEqual([]);
    return await device.read(0, device.virtualSize);
  } finally {
    await device.close();
  }
}

describeEmulator('Bochs 2.7 reads and writes the growing images vdisk makes', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  it('a guest reads exactly what vdisk wrote: data, overwritten, discarded and never-written sectors', async () => {
    const path = join(dir, 'vdisk-wrote.bochs');
    await createWithLibrary(path, SIZE);
    const model = new Uint8Array(SIZE);
    const put = (sector: number, bytes: Uint8Array) => model.set(bytes, sector * SECTOR);
    await editWithLibrary(path, async (device) => {
      const writes: Array<[number, number]> = [
        [0, 3], // the first sectors
        [30, 4], // across the boundary of extents 0 and 1 (32 sectors each)
        [100, 1],
        [640, 64], // two whole extents
        [LAST - 2, 3], // the end of the disk
      ];
      for (const [sector, count] of writes) {
        const data = new Uint8Array(seededBytes(`bochs@${sector}`, count * SECTOR));
        put(sector, data);
        await device.write(sector * SECTOR, data);
      }
      const again = new Uint8Array(seededBytes('again', 2 * SECTOR));
      put(31, again);
      await device.write(31 * SECTOR, again);
      put(650, new Uint8Array(3 * SECTOR));
      await device.discard(650 * SECTOR, 3 * SECTOR);
      // An unaligned write: core's read-modify-write of its sectors.
      const odd = new Uint8Array(seededBytes('odd', 700));
      model.set(odd, 200 * SECTOR + 100);
      await device.write(200 * SECTOR + 100, odd);
    });
    const ranges: SectorRange[] = [
      { lba: 0, count: 4 },
      { lba: 28, count: 8 },
      { lba: 99, count: 3 },
      { lba: 199, count: 4 },
      { lba: 500, count: 2 }, // never written: an unallocated extent
      { lba: 638, count: 20 },
      { lba: 700, count: 6 },
      { lba: LAST - 3, count: 4 },
    ];
    const seen = await bochsReadSectors({ path, mode: 'growing', size: SIZE }, ranges);
    ranges.forEach(({ lba, count }, i) => {
      const expected = model.subarray(lba * SECTOR, (lba + count) * SECTOR);
      expect({ lba, same: Buffer.from(seen[i] as Uint8Array).equals(expected) }).toEqual({ lba, same: true });
    });
  });

  it('vdisk reads exactly what a guest wrote through Bochs, whose file is what vdisk writes for the same sectors', async () => {
    const fresh = join(dir, 'fresh.bochs');
    await createWithLibrary(fresh, SIZE);
    const bochsWrote = join(dir, 'bochs-wrote.bochs');
    await copyFile(fresh, bochsWrote);
    const ranges: SectorRange[] = [
      { lba: 5, count: 2 },
      { lba: 31, count: 3 },
      { lba: 2000, count: 1 },
      { lba: 1000, count: 40 },
      { lba: 6, count: 1 }, // again, into an allocated extent
      { lba: LAST, count: 1 },
    ];
    await bochsWriteSectors({ path: bochsWrote, mode: 'growing', size: SIZE }, ranges);

    const model = new Uint8Array(SIZE);
    for (const { lba, count } of ranges) for (let s = lba; s < lba + count; s++) model.set(guestSector(s), s * SECTOR);
    expect(Buffer.from(await vdiskRead(bochsWrote)).equals(model)).toBe(true);

    // vdisk writing the same sectors one by one, in the guest's order, lays out the same file.
    const ours = join(dir, 'vdisk-same-writes.bochs');
    await copyFile(fresh, ours);
    await editWithLibrary(ours, async (device) => {
      for (const { lba, count } of ranges) {
        for (let s = lba; s < lba + count; s++) await device.write(s * SECTOR, guestSector(s));
      }
    });
    expect(await sameExceptRange(ours, bochsWrote, [0x54, 0x58])).toBeUndefined();
  });

  it('Bochs opens what a power loss left in the middle of concurrent allocations, and reads what vdisk reads', async () => {
    const created = new PowerLossSource();
    await driver.create(created, { virtualSize: SIZE, options: {} });
    const source = new PowerLossSource(created.bytes(), { seed: 5, maxDelay: 3 });
    const device = await registry.open(source, { format: 'bochs', writable: true });
    const writes = [0, 40, 41, 300, 301, 302, 600, 620].map((extent, i) =>
      device.write(extent * 16384 + 512 * i, new Uint8Array(seededBytes(`crash@${extent}`, 3000))),
    );
    await Promise.all(writes);
    await device.flush();
    await Promise.all([2, 3, 500, 501].map((extent) => device.write(extent * 16384, guestSector(extent))));
    // A state that lost some of the last allocations' pieces: orphan slots, entries not all written.
    const states = [...source.crashStates(source.point - 2, { seed: 3, subsets: 4 })];
    const state = (states[states.length - 1] as { bytes: Uint8Array }).bytes;
    const path = join(dir, 'crashed.bochs');
    await writeFile(path, state);
    expect(Buffer.from(state).equals(Buffer.from(source.bytes()))).toBe(false); // something was lost
    const opened = await registry.open(new MemorySource(state), { format: 'bochs' });
    const report = await opened.check();
    expect(report.problems.filter((p) => p.kind === 'corruption')).toEqual([]);
    expect(report.problems.some((p) => p.kind === 'leak')).toBe(true); // an orphan slot, as a crash leaves
    const ours = await opened.read(0, opened.virtualSize);
    const ranges: SectorRange[] = [0, 2, 3, 40, 41, 300, 600, 500, 501, 620].map((extent) => ({
      lba: extent * 32,
      count: 12,
    }));
    const seen = await bochsReadSectors({ path, mode: 'growing', size: SIZE }, ranges);
    ranges.forEach(({ lba, count }, i) => {
      const expected = ours.subarray(lba * SECTOR, (lba + count) * SECTOR);
      expect({ lba, same: Buffer.from(seen[i] as Uint8Array).equals(expected) }).toEqual({ lba, same: true });
    });
  });

  // The harness itself, on Bochs's plainest modes, with no vdisk code in the loop: what the
  // formats and family helpers build on.
  it('the harness: a guest reads a flat disk as its bytes, and its writes land where it says', async () => {
    const path = join(dir, 'flat.img');
    const bytes = new Uint8Array(seededBytes('flat', SIZE));
    await writeFile(path, bytes);
    const ranges: SectorRange[] = [
      { lba: 0, count: 2 },
      { lba: 777, count: 3 },
      { lba: LAST, count: 1 },
    ];
    const seen = await bochsReadSectors({ path, mode: 'flat', size: SIZE }, ranges);
    ranges.forEach(({ lba, count }, i) => {
      expect(Buffer.from(seen[i] as Uint8Array).equals(bytes.subarray(lba * SECTOR, (lba + count) * SECTOR))).toBe(
        true,
      );
    });
    await bochsWriteSectors({ path, mode: 'flat', size: SIZE }, [{ lba: 9, count: 2 }]);
    const after = await readFile(path);
    expect(after.subarray(9 * SECTOR, 10 * SECTOR).equals(guestSector(9))).toBe(true);
    expect(after.subarray(10 * SECTOR, 11 * SECTOR).equals(guestSector(10))).toBe(true);
    expect(after.subarray(11 * SECTOR).equals(bytes.subarray(11 * SECTOR))).toBe(true);
  });

  it('the harness: an undoable disk writes to its journal and leaves the base alone', async () => {
    const base = join(dir, 'base.img');
    const journal = join(dir, 'base.journal');
    const bytes = new Uint8Array(seededBytes('base', SIZE));
    await writeFile(base, bytes);
    await bochsWriteSectors({ path: base, mode: 'undoable', size: SIZE, journal }, [{ lba: 3, count: 1 }]);
    expect(Buffer.from(await readFile(base)).equals(bytes)).toBe(true);
    const [seen] = await bochsReadSectors({ path: base, mode: 'undoable', size: SIZE, journal }, [
      { lba: 2, count: 3 },
    ]);
    const expected = Uint8Array.from([...bytes.subarray(1024, 1536), ...guestSector(3), ...bytes.subarray(2048, 2560)]);
    expect(Buffer.from(seen as Uint8Array).equals(expected)).toBe(true);
    // And a growing image bximage made reads as zeros.
    const empty = await bximageCreate(join(dir, 'bximage-empty.bochs'), '10M');
    const [zeros] = await bochsReadSectors({ path: empty, mode: 'growing', size: SIZE }, [{ lba: 100, count: 2 }]);
    expect(zeros).toEqual(new Uint8Array(1024));
  });
});
