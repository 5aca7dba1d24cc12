/**
 * Bochs images that vdisk writes, against the peers: the driver's create is byte-identical to
 * `bximage -func=create -imgmode=growing`; an image built through the library from a raw disk
 * is byte-identical to `bximage -func=convert -imgmode=growing` of it but for the header's
 * timestamp (0x54..0x57); and qemu-img and bximage read back exactly what vdisk wrote.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MemorySource, Registry } from '@vdisk/core';
import { PowerLossSource, SeededRandom } from '@vdisk/core/testing';
import { BochsDriver } from '@vdisk/format-bochs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { seededBytes } from './disk-contents.js';
import { fileDifference } from './file-difference.js';
import { buildImages, bximageCreatedSize, type InteropImage, specsNamed } from './image-set.js';
import { convertWithLibrary, createWithLibrary, editWithLibrary, sameExceptRange } from './library-bochs.js';
import {
  bximageConvert,
  bximageCreate,
  describeInterop,
  makeScratchDir,
  qemuImgConvertToRaw,
  removeScratchDir,
} from './peers.js';

const SECTOR = 512;
const TIMESTAMP: [number, number] = [0x54, 0x58];

/**
 * A raw disk that exercises bximage's convert where it is subtle: every extent of the first
 * 40 begins with a different number of zero sectors, then one or two written sectors; all-zero
 * extents between data; a sector with a single nonzero byte; the very last sector.
 */
async function writeSparseSectors(path: string, size: number, extent: number): Promise<void> {
  const raw = new Uint8Array(size);
  const perExtent = extent / SECTOR;
  for (let e = 0; e < 40; e++) {
    if (e % 5 === 4) continue; // all-zero extents between data
    const first = e * perExtent + (e % perExtent);
    raw.set(seededBytes(`sparse@${e}`, SECTOR * (1 + (e % 2))).subarray(0, SECTOR * (1 + (e % 2))), first * SECTOR);
  }
  raw[50 * extent + 3 * SECTOR + 17] = 1; // one byte in a sector of zeros
  raw.set(seededBytes('sparse@end', SECTOR), size - SECTOR);
  await writeFile(path, raw);
}

describeInterop('Bochs images that vdisk creates and writes', () => {
  let dir: string;
  let images: InteropImage[] = [];
  beforeAll(async () => {
    dir = await makeScratchDir();
    images = await buildImages(dir, specsNamed('pattern-2M', 'random-10M', 'holes-1M', 'holes-10M', 'holes-70M'));
  });
  afterAll(() => removeScratchDir(dir));

  // The sizes of BOCHS-FAMILY.md §2's table, and a few between.
  for (const megabytes of [10, 20, 100, 500, 1024, 3000, 8192, 65536, 2048000, 8257535]) {
    it(`create of bximage's -hd=${megabytes}M size is byte-identical to bximage -func=create`, async () => {
      const size = bximageCreatedSize(megabytes);
      const theirs = await bximageCreate(join(dir, `create-${megabytes}.bximage`), `${megabytes}M`);
      const ours = join(dir, `create-${megabytes}.vdisk`);
      await createWithLibrary(ours, size);
      expect(await fileDifference(ours, theirs)).toBeUndefined();
    });
  }

  it('convert of each raw disk through the library is byte-identical to bximage -func=convert but for the timestamp', async () => {
    for (const image of images) {
      const ours = join(dir, `${image.name}.vdisk.bochs`);
      await convertWithLibrary(image.raw, ours);
      expect({ image: image.name, diff: await sameExceptRange(ours, image.path, TIMESTAMP) }).toEqual({
        image: image.name,
        diff: undefined,
      });
    }
  });

  for (const [name, size, extent] of [
    ['sparse-2M', 2 * 1024 * 1024 - 3 * SECTOR, 4096],
    ['sparse-40M', 40 * 1024 * 1024 + 7 * SECTOR, 32768],
  ] as const) {
    it(`${name}: zero sectors at extents' starts, single sectors, zero extents between: identical to bximage, read back by qemu-img and bximage`, async () => {
      const raw = join(dir, `${name}.raw`);
      await writeSparseSectors(raw, size, extent);
      const theirs = await bximageConvert(raw, join(dir, `${name}.bximage.bochs`));
      const ours = join(dir, `${name}.vdisk.bochs`);
      await convertWithLibrary(raw, ours);
      // bximage's bitmap for an extent whose first sector is zero: that bit is clear.
      const header = await readFile(ours);
      expect(header.readUInt32LE(0x50)).toBe(extent);
      expect(await sameExceptRange(ours, theirs, TIMESTAMP)).toBeUndefined();
      await expectPeersRead(ours, raw);
    });
  }

  it('qemu-img and bximage read back each converted image exactly', async () => {
    for (const image of images.filter((i) => i.name !== 'holes-70M')) {
      await expectPeersRead(join(dir, `${image.name}.vdisk.bochs`), image.raw);
    }
  });

  it('random writes, overwrites, zeroes and discards read back in qemu-img and bximage as the model says', async () => {
    const size = bximageCreatedSize(10);
    const path = join(dir, 'random-writes.bochs');
    await createWithLibrary(path, size);
    const model = new Uint8Array(size);
    const random = new SeededRandom(42);
    await editWithLibrary(path, async (device) => {
      for (let n = 0; n < 300; n++) {
        // Any offset and length: core pads the unaligned heads and tails.
        const length = 1 + random.below(random.chance(0.1) ? 100_000 : 6000);
        const offset = random.below(size - length);
        const roll = random.next();
        if (roll < 0.8) {
          const data = new Uint8Array(seededBytes(`w${n}`, length));
          model.set(data, offset);
          await device.write(offset, data);
        } else {
          model.fill(0, offset, offset + length);
          await (roll < 0.9 ? device.writeZeroes(offset, length) : device.discard(offset, length));
        }
      }
      expect(await device.check()).toEqual({ problems: [] });
    });
    const expected = join(dir, 'random-writes.expected.raw');
    await writeFile(expected, model);
    await expectPeersRead(path, expected);
  });
  it('what a power loss leaves at any point of a write script opens in qemu-img and bximage, which read what vdisk reads', async () => {
    const driver = new BochsDriver();
    const registry = new Registry([driver]);
    const created = new PowerLossSource();
    await driver.create(created, { virtualSize: 2 * 1024 * 1024, options: {} }); // 4 KiB extents
    const source = new PowerLossSource(created.bytes(), { seed: 7, maxDelay: 3 });
    const device = await registry.open(source, { format: 'bochs', writable: true });
    const random = new SeededRandom(7);
    for (let batch = 0; batch < 25; batch++) {
      const work = [0, 1, 2].map((k) => {
        const offset = (batch * 3 + k) * 20_000 + random.below(4000);
        return device.write(offset, new Uint8Array(seededBytes(`crash${batch}/${k}`, 1 + random.below(12_000))));
      });
      if (batch % 4 === 3) work.push(device.flush());
      await Promise.all(work);
    }
    const states: Uint8Array[] = [];
    for (let n = 0; n < 16; n++) {
      const point = Math.floor(((n + 0.5) / 16) * source.point);
      const all = [...source.crashStates(point, { seed: n, subsets: 2 })];
      states.push((all[all.length - 1] as { bytes: Uint8Array }).bytes);
    }
    for (const [n, state] of states.entries()) {
      const path = join(dir, `crash-${n}.bochs`);
      await writeFile(path, state);
      const ours = await registry.open(new MemorySource(state), { format: 'bochs' });
      const report = await ours.check();
      expect(report.problems.filter((p) => p.kind === 'corruption')).toEqual([]);
      const expected = join(dir, `crash-${n}.vdisk.raw`);
      await writeFile(expected, await ours.read(0, ours.virtualSize));
      await expectPeersRead(path, expected);
    }
  });
});

/** qemu-img convert -f bochs -O raw, and bximage -func=convert back to flat, both equal `raw`. */
async function expectPeersRead(image: string, raw: string): Promise<void> {
  const qemu = await qemuImgConvertToRaw(image, `${image}.qemu.raw`);
  expect(await fileDifference(qemu, raw)).toBeUndefined();
  const flat = await bximageConvert(image, `${image}.flat`, 'flat');
  expect(await fileDifference(flat, raw)).toBeUndefined();
}
