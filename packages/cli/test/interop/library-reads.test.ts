import { open } from 'node:fs/promises';
import type { BlockDevice } from '@vdisk/core';
import { openFile } from '@vdisk/core/node';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/default-registry.js';
import { seededIntegers } from './disk-contents.js';
import { buildImages, type InteropImage, specsNamed } from './image-set.js';
import { type ByteRange, describeInterop, makeScratchDir, qemuIoRead, removeScratchDir } from './peers.js';

// Not holes-300M: holes-70M reads the same way, and bximage needs seconds to read 300 MB.
const NAMES = ['pattern-2M', 'random-10M', 'holes-1M', 'holes-10M', 'holes-70M'];

/**
 * Seeded ranges at any offset and length: the disk's first and last byte, ranges across an
 * extent boundary and the disk's end, and random ones, short (within a sector or two) and long
 * (several extents).
 */
function rangesFor(image: InteropImage): ByteRange[] {
  const size = image.virtualSize;
  const extent = image.spec.extent;
  const pick = seededIntegers(`reads/${image.name}`);
  const ranges: ByteRange[] = [
    { offset: 0, length: 1 },
    { offset: size - 1, length: 1 },
    { offset: extent - 3, length: 7 },
    { offset: 2 * extent - 700, length: 1500 },
    { offset: size - 1000, length: 1000 },
  ];
  for (let i = 0; i < 24; i++) {
    const length = i % 3 === 2 ? 1 + pick(4 * extent) : 1 + pick(1100);
    ranges.push({ offset: pick(size - length + 1), length });
  }
  return ranges;
}

async function readRaw(path: string, { offset, length }: ByteRange): Promise<Uint8Array> {
  const file = await open(path);
  try {
    const bytes = Buffer.alloc(length);
    const { bytesRead } = await file.read(bytes, 0, length, offset);
    expect(bytesRead).toBe(length);
    return new Uint8Array(bytes);
  } finally {
    await file.close();
  }
}

describeInterop('library reads at unaligned offsets, against qemu-io and the raw disk', () => {
  let dir: string | undefined;
  const images = new Map<string, InteropImage>();

  beforeAll(async () => {
    dir = await makeScratchDir();
    for (const image of await buildImages(dir, specsNamed(...NAMES))) images.set(image.name, image);
  });
  afterAll(() => removeScratchDir(dir));

  for (const name of NAMES) {
    it(`${name}: openFile reads, 16 at a time, equal the raw disk and qemu-io's reads`, async () => {
      const image = images.get(name) as InteropImage;
      const ranges = rangesFor(image);
      const expected = await Promise.all(ranges.map((range) => readRaw(image.raw, range)));

      let device: BlockDevice | undefined;
      try {
        device = await openFile(defaultRegistry(), image.path);
        expect(device.format).toBe('bochs');
        expect(device.virtualSize).toBe(image.virtualSize);
        const opened = device;
        for (let first = 0; first < ranges.length; first += 16) {
          const batch = ranges.slice(first, first + 16);
          const got = await Promise.all(batch.map(({ offset, length }) => opened.read(offset, length)));
          for (const [i, bytes] of got.entries()) {
            const { offset, length } = batch[i] as ByteRange;
            expect(Buffer.from(bytes).equals(expected[first + i] as Uint8Array), `read ${offset} ${length}`).toBe(true);
          }
        }
      } finally {
        await device?.close();
      }

      // qemu-io prints its reads as a hex dump: ask it for the short ranges only.
      const short = ranges.map((range, i) => ({ range, i })).filter(({ range }) => range.length <= 4096);
      const qemu = await qemuIoRead(
        image.path,
        short.map(({ range }) => range),
      );
      for (const [j, { range, i }] of short.entries()) {
        const same = Buffer.from(qemu[j] as Uint8Array).equals(expected[i] as Uint8Array);
        expect(same, `qemu-io read -v ${range.offset} ${range.length}`).toBe(true);
      }
    });
  }
});
