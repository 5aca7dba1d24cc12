import { BlockDevice, type ByteSource, MemorySource } from '@vdisk/core';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import type { BochsImage } from './bochs-image.js';
import { type BochsImageSpec, buildBochsImage } from './testing/index.js';

/** A memory source that can scatter (as a file can), and records every read it serves. */
class RecordingSource implements ByteSource {
  readonly memory: MemorySource;
  readonly reads: Array<{ position: number; lengths: number[] }> = [];
  inFlight = 0;
  maxInFlight = 0;
  constructor(bytes: Uint8Array) {
    this.memory = new MemorySource(bytes);
  }
  get size() {
    return this.memory.size;
  }
  async read(buffer: Uint8Array, position: number) {
    await this.readv([buffer], position);
  }
  async readv(buffers: readonly Uint8Array[], position: number) {
    this.reads.push({ position, lengths: buffers.map((b) => b.length) });
    this.maxInFlight = Math.max(this.maxInFlight, ++this.inFlight);
    await new Promise((resolve) => setImmediate(resolve));
    let at = position;
    for (const buffer of buffers) {
      await this.memory.read(buffer, at);
      at += buffer.length;
    }
    this.inFlight--;
  }
  /** Writes go straight through (unrecorded), for the tests that zero or write. */
  async write(buffer: Uint8Array, position: number) {
    await this.memory.write(buffer, position);
  }
  async flush() {}
  async close() {}
}

/** What the disk holds after `writes`, written from the spec: unwritten sectors are zeros. */
function expectedDisk(spec: BochsImageSpec): Uint8Array {
  const disk = new Uint8Array(Number(spec.diskSize));
  for (const { offset, data } of spec.writes ?? []) disk.set(data, offset);
  return disk;
}

const pattern = (length: number, seed: number) => Uint8Array.from({ length }, (_, i) => ((i * 31 + seed) % 251) + 1);

async function open(spec: BochsImageSpec) {
  const source = new RecordingSource(buildBochsImage(spec));
  const driver = new BochsDriver();
  const image = await driver.open(source, { writable: false, options: {} });
  source.reads.length = 0; // only the reads of the requests below
  return { source, image, device: new BlockDevice(driver, image, source) };
}

// 1 MiB disk with bximage's sizing for it: 512 entries of 4 KiB extents (8 sectors), a
// 1-byte bitmap in a 512-byte bitmap area. Writes in an order that puts slots out of the
// virtual order, leaves extents unallocated, and leaves holes in written extents.
const SPEC: BochsImageSpec = {
  diskSize: 1 << 20,
  writes: [
    { offset: 0, data: pattern(4 * 4096, 1) }, // extents 0-3: slots 0-3, whole
    { offset: 9 * 4096 + 1024, data: pattern(1024, 2) }, // extent 9: sectors 2-3 only
    { offset: 5 * 4096, data: pattern(4096, 3) }, // extent 5 after 9 in the file
    { offset: 6 * 4096 + 3584, data: pattern(512, 4) }, // extent 6: its last sector
    { offset: 7 * 4096, data: pattern(8192, 5) }, // extents 7-8
    { offset: 200 * 4096 + 512, data: pattern(3072, 6) }, // extent 200: sectors 1-6
  ],
};

describe('BochsImage scattered reads', () => {
  it('reads every byte as the spec says, for any request and any split of the buffers', async () => {
    const { device } = await open(SPEC);
    const disk = expectedDisk(SPEC);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: disk.length - 1 }),
        fc.integer({ min: 1, max: 40_000 }),
        async (offset, wanted) => {
          const length = Math.min(wanted, disk.length - offset);
          const got = await device.read(offset, length);
          expect(Buffer.from(got).equals(Buffer.from(disk.subarray(offset, offset + length)))).toBe(true);
        },
      ),
      { numRuns: 150 },
    );
  });

  it('fills buffers split anywhere on sector boundaries', async () => {
    const { image } = await open(SPEC);
    const disk = expectedDisk(SPEC);
    await fc.assert(
      fc.asyncProperty(fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 12 }), async (sizes) => {
        const buffers = sizes.map((n) => new Uint8Array(n * 512).fill(0xee));
        const total = sizes.reduce((a, b) => a + b, 0) * 512;
        await image.readv(2048, buffers);
        const got = Buffer.concat(buffers);
        expect(got.equals(Buffer.from(disk.subarray(2048, 2048 + total)))).toBe(true);
      }),
      { numRuns: 60 },
    );
  });

  it('reads consecutive slots with one scattered read: bitmap, data, bitmap, data', async () => {
    const { image, source } = await open(SPEC);
    await image.readv(0, [new Uint8Array(4 * 4096)]);
    expect(source.reads).toEqual([{ position: 512 + 4 * 512, lengths: [512, 4096, 512, 4096, 512, 4096, 512, 4096] }]);
  });

  it('reads nothing for unallocated extents', async () => {
    const { image, source } = await open(SPEC);
    const buffer = new Uint8Array(8 * 4096).fill(0xee);
    await image.readv(300 * 4096, [buffer]);
    expect(source.reads).toEqual([]);
    expect(buffer.every((b) => b === 0)).toBe(true);
  });

  it('zeroes the sectors whose bit is clear, whatever their slot holds', async () => {
    // Slot 0 holds bytes in sectors whose bit is clear: Bochs would never write them,
    // but a damaged image can. They must read as zeros, as in QEMU.
    const spec: BochsImageSpec = { diskSize: 1 << 20, writes: [{ offset: 0, data: pattern(4096, 9) }] };
    const bytes = buildBochsImage(spec);
    const slot = 512 + 512 * 4;
    bytes[slot] = 0b1010_0101; // sectors 0, 2, 5, 7 written; 1, 3, 4, 6 not
    const driver = new BochsDriver();
    const image = await driver.open(new RecordingSource(bytes), { writable: false, options: {} });
    const got = new Uint8Array(4096);
    await image.readv(0, [got]);
    const data = pattern(4096, 9);
    for (let s = 0; s < 8; s++) {
      const sector = got.subarray(s * 512, (s + 1) * 512);
      const written = [0, 2, 5, 7].includes(s);
      expect([
        s,
        Buffer.from(sector).equals(written ? data.subarray(s * 512, (s + 1) * 512) : new Uint8Array(512)),
      ]).toEqual([s, true]);
    }
  });

  it('never reads a hostile bitmap area whole: only the bits needed', async () => {
    // bitmap 0xffffffff: a 4 GiB bitmap area before each extent's data (QEMU's stride).
    const spec: BochsImageSpec = { diskSize: 1 << 20, bitmapSize: 0xffffffff };
    const built = buildBochsImage({ ...spec, writes: [] });
    // A file that goes on past the catalog, so slot 0's bitmap is in it: it must be read.
    const bytes = new Uint8Array(built.length + 1024).fill(0xff);
    bytes.set(built);
    const { source, image } = await openBytes(bytes);
    const got = new Uint8Array(8192).fill(0xee);
    await image.readv(0, [got]);
    expect(source.reads.length).toBeGreaterThan(0);
    expect(source.reads.every((r) => r.lengths.every((n) => n <= 8192))).toBe(true);
    // Extent 0's bits are 0xff (all written), its data lies 4 GiB on, past the end: zeros.
    expect(got.every((b) => b === 0)).toBe(true);
  });

  it('asks the catalog alone when the caller does not want zeros (QEMU want_zero=false)', async () => {
    const { image, source } = await open(SPEC);
    const runs = await image.blockStatus(0, 16 * 4096, { wantZero: false });
    expect(source.reads).toEqual([]);
    expect(runs).toEqual([
      { offset: 0, length: 4 * 4096, data: true },
      { offset: 4 * 4096, length: 4096, data: false },
      { offset: 5 * 4096, length: 5 * 4096, data: true },
      { offset: 10 * 4096, length: 6 * 4096, data: false },
    ]);
  });

  it('still maps each sector when asked precisely', async () => {
    const { image } = await open(SPEC);
    const runs = await image.blockStatus(9 * 4096, 4096);
    expect(runs).toEqual([
      { offset: 9 * 4096, length: 1024, data: false },
      { offset: 9 * 4096 + 1024, length: 1024, data: true, fileOffset: 512 + 4 * 512 + 4 * 4608 + 512 + 1024 },
      { offset: 9 * 4096 + 2048, length: 2048, data: false },
    ]);
  });

  it('reads only the data of an extent it has seen full: one read, no bitmap', async () => {
    const { image, source } = await open(SPEC);
    await image.readv(4096, [new Uint8Array(4096)]); // extent 1, whole: its bitmap (all set) and data
    expect(source.reads).toEqual([{ position: 512 + 4 * 512 + 4608, lengths: [512, 4096] }]);
    source.reads.length = 0;
    const got = new Uint8Array(1024);
    await image.readv(4096 + 1024, [got]);
    expect(source.reads).toEqual([{ position: 512 + 4 * 512 + 4608 + 512 + 1024, lengths: [1024] }]);
    expect(Buffer.from(got).equals(Buffer.from(expectedDisk(SPEC).subarray(4096 + 1024, 4096 + 2048)))).toBe(true);
    // Extent 9 is not full: its bits are read with every request.
    await image.readv(9 * 4096, [new Uint8Array(4096)]);
    source.reads.length = 0;
    await image.readv(9 * 4096 + 1024, [new Uint8Array(1024)]);
    expect(source.reads.length).toBe(2); // its bitmap, then the data elsewhere
  });

  it('forgets an extent is full when it is zeroed, also when a read saw its old bitmap meanwhile', async () => {
    const bytes = buildBochsImage({ diskSize: 1 << 20, writes: [{ offset: 0, data: pattern(4096, 7) }] });
    const source = new RecordingSource(bytes);
    const image = await new BochsDriver().open(source, { writable: true, options: {} });
    // A read of the whole extent is in flight (its bitmap still all set) when the zeroing starts.
    const reading = image.readv(0, [new Uint8Array(4096)]);
    const zeroing = image.zero(0, 1024);
    await Promise.all([reading, zeroing]);
    const got = new Uint8Array(4096);
    await image.readv(0, [got]);
    expect(got.subarray(0, 1024).every((b) => b === 0)).toBe(true);
    expect(Buffer.from(got.subarray(1024)).equals(Buffer.from(pattern(4096, 7).subarray(1024)))).toBe(true);
    // And once it was known full, zeroing it makes the next read look at the bits again.
    await image.write(0, [pattern(4096, 8)]);
    await image.readv(0, [new Uint8Array(4096)]);
    await image.zero(2048, 512);
    await image.readv(0, [got]);
    expect(got.subarray(2048, 2560).every((b) => b === 0)).toBe(true);
    expect(Buffer.from(got.subarray(0, 2048)).equals(Buffer.from(pattern(4096, 8).subarray(0, 2048)))).toBe(true);
  });

  it('runs concurrent reads concurrently: no lock around data I/O, as qcow2 drops its CoMutex', async () => {
    const { image, source } = await open(SPEC);
    await Promise.all([0, 1, 2, 3, 5, 9].map((e) => image.readv(e * 4096 + 512, [new Uint8Array(1024)])));
    expect(source.reads.length).toBeGreaterThan(1);
    expect(source.maxInFlight).toBeGreaterThan(1);
  });
});

async function openBytes(bytes: Uint8Array): Promise<{ source: RecordingSource; image: BochsImage }> {
  // Catalog entries 0 and 1 point to slots 0 and 1 (slot 1 lies 4 GiB on, past the end).
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint32(512, 0, true);
  view.setUint32(516, 1, true);
  const source = new RecordingSource(bytes);
  const image = await new BochsDriver().open(source, { writable: false, options: {} });
  source.reads.length = 0;
  return { source, image };
}
