import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { type ByteSource, MemorySource, Registry } from '@vdisk/core';
import fc from 'fast-check';
import Bunzip from 'seek-bzip';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { buildBochsImage, EMPTY_BOCHS_SPEC } from './testing/image-builder.js';

const registry = new Registry([new BochsDriver()]);
const open = (bytes: Uint8Array, options: { writable?: boolean; options?: Record<string, string> } = {}) =>
  registry.open(new MemorySource(bytes), { format: 'bochs', ...options });
const same = (a: Uint8Array, b: Uint8Array) => Buffer.from(a).equals(Buffer.from(b));

/** A byte source that records every read: to count system calls and check what is read. */
class CountingSource implements ByteSource {
  reads: Array<[number, number]> = [];
  constructor(readonly inner: ByteSource) {}
  get size() {
    return this.inner.size;
  }
  read(buffer: Uint8Array, position: number) {
    this.reads.push([position, buffer.length]);
    return this.inner.read(buffer, position);
  }
  close() {
    return this.inner.close();
  }
}

function poke(bytes: Uint8Array, offset: number, values: number[]): Uint8Array {
  const copy = Uint8Array.from(bytes);
  copy.set(values, offset);
  return copy;
}

describe("QEMU's iotest 078 on empty.bochs", () => {
  const empty = buildBochsImage(EMPTY_BOCHS_SPEC);
  const shared = fileURLToPath(new URL('../../../../shared/fixtures/empty.bochs.bz2', import.meta.url));

  it.skipIf(!existsSync(shared))("the test builder's empty image is byte-identical to QEMU's empty.bochs", () => {
    expect(same(empty, Bunzip.decode(readFileSync(shared)))).toBe(true);
  });
  if (!existsSync(shared)) {
    // QEMU's own sample image is not part of this repository (it is QEMU's file, kept with the
    // team's reference material beside the clone); without it this one byte-for-byte
    // cross-check is skipped, and the tests below still run iotest 078 on the builder's image.
    console.warn(
      `skipped: the byte-for-byte cross-check with QEMU's own empty.bochs (tests/qemu-iotests/sample_images) needs ${shared}, a reference copy kept outside the clone, which is absent here`,
    );
  }

  it('opens the valid image and reads 512 zero bytes at 0', async () => {
    const device = await open(empty);
    expect(device.virtualSize).toBe(1032192);
    expect(await device.read(0, 512)).toEqual(new Uint8Array(512));
  });

  it.each([
    ['catalog ff ff ff ff', 0x48, [0xff, 0xff, 0xff, 0xff], 'Catalog size is too large'],
    ['catalog 00 00 00 40', 0x48, [0x00, 0x00, 0x00, 0x40], 'Catalog size is too large'],
    [
      'disk 00 c0 0f 00 00 00 00 7f',
      0x58,
      [0x00, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x00, 0x7f],
      'Catalog size is too small for this disk size',
    ],
    ['catalog 10 00 00 00', 0x48, [0x10, 0x00, 0x00, 0x00], 'Catalog size is too small for this disk size'],
    ['extent 00 00 00 80', 0x50, [0x00, 0x00, 0x00, 0x80], 'Extent size 2147483648 is too large'],
    ['extent 00 00 00 00', 0x50, [0x00, 0x00, 0x00, 0x00], 'Extent size must be at least 512'],
  ])('%s: %s', async (_case, offset, values, message) => {
    await expect(open(poke(empty, offset, values))).rejects.toMatchObject({ code: 'EFORMAT', message });
  });
});

describe('bochs_open', () => {
  it("opens writable (QEMU's `Image is read-only` step is gone): a file that is not Bochs says so", async () => {
    const source = new MemorySource(new Uint8Array(100));
    await expect(registry.open(source, { format: 'bochs', writable: true })).rejects.toMatchObject({
      code: 'EFORMAT',
      message: 'Image not in Bochs format',
    });
  });

  it('checks in QEMU order: format, catalog, extent, then catalog against disk', async () => {
    // Every field is bad: the first check wins.
    const bad = buildBochsImage({ diskSize: 1n << 60n, catalogSize: 0x100001, extentSize: 3000 });
    await expect(open(bad)).rejects.toThrow('Catalog size is too large');
    const badExtent = buildBochsImage({ diskSize: 1n << 60n, catalogSize: 16, extentSize: 3000 });
    await expect(open(badExtent)).rejects.toThrow('Extent size 3000 is not a power of two');
    const notBochs = poke(badExtent, 0x30, [0x55]);
    await expect(open(notBochs)).rejects.toThrow('Image not in Bochs format');
    await expect(open(buildBochsImage({ diskSize: 1 << 20, extentSize: 0x1000000, catalogSize: 1 }))).rejects.toThrow(
      'Extent size 16777216 is too large',
    );
  });

  it('reads the whole catalog in one read', async () => {
    const source = new CountingSource(new MemorySource(buildBochsImage({ diskSize: 1 << 30 })));
    const device = await registry.open(source, { format: 'bochs' });
    expect(source.reads).toEqual([
      [0, 512],
      [512, 8192 * 4],
    ]);
    expect(device.info()).toEqual({
      type: 'bochs',
      data: {
        version: 2,
        subtype: 'Growing',
        'header-size': 512,
        'catalog-size': 8192,
        'bitmap-size': 32,
        'extent-size': 131072,
        'allocated-extents': 0,
      },
    });
  });

  it('rounds the disk size down to whole sectors', async () => {
    expect((await open(buildBochsImage({ diskSize: 1000 }))).virtualSize).toBe(512);
  });

  it('rejects unknown options', async () => {
    await expect(open(buildBochsImage({ diskSize: 4096 }), { options: { x: '1' } })).rejects.toThrow(
      "Block format 'bochs' does not support the option 'x'",
    );
  });
});

/** The disk as bytes, with the writes applied: the expectation, built without the driver or the builder. */
function flatDisk(size: number, writes: ReadonlyArray<{ offset: number; data: Uint8Array }>): Uint8Array {
  const disk = new Uint8Array(size);
  for (const write of writes) disk.set(write.data, write.offset);
  return disk;
}

function sectorData(seed: number, sectors: number): Uint8Array {
  const data = new Uint8Array(sectors * 512);
  let x = seed | 1;
  for (let i = 0; i < data.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    data[i] = x & 0xff || 1; // never zero, so a wrongly zeroed sector shows
  }
  return data;
}

describe('bochs reads', () => {
  it('reads written sectors from their slot and everything else as zeros', async () => {
    const writes = [
      { offset: 0, data: sectorData(1, 1) },
      { offset: 4096 * 3 + 1024, data: sectorData(2, 3) },
      { offset: 4096 * 200, data: sectorData(3, 16) },
    ];
    const device = await open(buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes }));
    const all = await device.read(0, device.virtualSize);
    expect(same(all, flatDisk(device.virtualSize, writes))).toBe(true);
  });

  it('reads a v1 image', async () => {
    const writes = [{ offset: 8192, data: sectorData(9, 4) }];
    const device = await open(buildBochsImage({ diskSize: 1 << 20, version: 1, writes }));
    expect(same(await device.read(0, 1 << 20), flatDisk(1 << 20, writes))).toBe(true);
  });

  it('matches the flat disk for random writes, image shapes and reads (property)', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(512, 4096, 16384),
        fc.array(fc.record({ sector: fc.nat(255), count: fc.integer({ min: 1, max: 40 }), seed: fc.integer() }), {
          maxLength: 12,
        }),
        fc.nat(),
        fc.nat(),
        fc.constantFrom(1, 2, 4096),
        async (extentSize, raw, a, b, bitmapSize) => {
          const size = 256 * 512;
          const writes = raw.map((w) => ({
            offset: w.sector * 512,
            data: sectorData(w.seed, Math.min(w.count, 256 - w.sector)),
          }));
          const image = buildBochsImage({
            diskSize: size,
            extentSize,
            catalogSize: size / extentSize,
            bitmapSize,
            writes,
          });
          const device = await open(image);
          const expected = flatDisk(size, writes);
          const offset = a % size;
          const length = b % (size - offset + 1);
          expect(same(await device.read(offset, length), expected.subarray(offset, offset + length))).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('costs a few reads per extent, not two per sector', async () => {
    const size = 64 * 16384;
    const writes = [{ offset: 0, data: sectorData(5, size / 512) }];
    const source = new CountingSource(new MemorySource(buildBochsImage({ diskSize: size, writes })));
    const device = await registry.open(source, { format: 'bochs' });
    source.reads = [];
    await device.read(0, size);
    const extents = size / 4096; // bximage's extent for a 1 MiB disk
    expect(device.info()?.data['extent-size']).toBe(4096);
    expect(source.reads.length).toBeLessThanOrEqual(2 * extents);
  });

  it('reads what lies past the end of a truncated file as zeros, as QEMU does', async () => {
    const writes = [
      { offset: 0, data: sectorData(1, 8) },
      { offset: 8192, data: sectorData(2, 8) },
    ];
    const full = buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes });
    // Cut the second slot in the middle of its data.
    const cut = full.subarray(0, 2560 + 4608 + 512 + 2048);
    const device = await open(cut);
    const got = await device.read(0, 16384);
    const expected = flatDisk(16384, writes);
    expected.fill(0, 8192 + 2048, 16384);
    expect(same(got, expected)).toBe(true);
  });

  it('refuses, rather than rounds, a slot offset past 2^53', async () => {
    // A bitmap field of 0 means 0x800000 bitmap blocks: a 4 GiB slot stride, so slot
    // 0xfffffffe lies near 2^64.
    const image = buildBochsImage({ ...EMPTY_BOCHS_SPEC, bitmapSize: 0 });
    new DataView(image.buffer).setUint32(512, 0xfffffffe, true); // extent 0 -> slot 0xfffffffe
    const device = await open(image);
    await expect(device.read(0, 512)).rejects.toMatchObject({ code: 'EOVERFLOW' });
    // Other extents still read.
    expect(await device.read(4096, 512)).toEqual(new Uint8Array(512));
  });

  it('reports the allocation from the catalog and the bitmaps', async () => {
    const writes = [
      { offset: 1024, data: sectorData(1, 2) },
      { offset: 4096 * 2, data: sectorData(2, 8) },
    ];
    const device = await open(buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes }));
    const runs = await device.blockStatus(0, 4096 * 4);
    // slot 0 = extent 0 at 2560 (data at 3072), slot 1 = extent 2 at 7168 (data at 7680)
    expect(runs).toEqual([
      { offset: 0, length: 1024, data: false },
      { offset: 1024, length: 1024, data: true, fileOffset: 3072 + 1024 },
      { offset: 2048, length: 6144, data: false },
      { offset: 8192, length: 4096, data: true, fileOffset: 7680 },
      { offset: 12288, length: 4096, data: false },
    ]);
  });

  it('serves many concurrent reads exactly as sequential ones', async () => {
    const writes = [{ offset: 0, data: sectorData(3, 2016) }];
    const device = await open(buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes }));
    const ranges = Array.from(
      { length: 64 },
      (_, i) => [(i * 7919) % 1_000_000, 1 + ((i * 104_729) % 30_000)] as const,
    );
    const sequential: Uint8Array[] = [];
    for (const [o, n] of ranges) sequential.push(await device.read(o, n));
    const concurrent = await Promise.all(ranges.map(([o, n]) => device.read(o, n)));
    concurrent.forEach((bytes, i) => {
      expect(same(bytes, sequential[i] as Uint8Array)).toBe(true);
    });
  });
});
