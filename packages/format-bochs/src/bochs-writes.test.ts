import { MemorySource, Registry } from '@vdisk/core';
import { PowerLossSource, type SourceOperation } from '@vdisk/core/testing';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { BochsImage } from './bochs-image.js';
import { buildBochsImage, EMPTY_BOCHS_SPEC } from './testing/image-builder.js';

const driver = new BochsDriver();
const sectors = (count: number, value: number) => new Uint8Array(512 * count).fill(value);

/** A writable image on a PowerLossSource holding `bytes` (QEMU's empty.bochs by default: 4 KiB extents, slots of 4608 bytes from 2560). */
async function openImage(bytes = buildBochsImage(EMPTY_BOCHS_SPEC), maxDelay = 0) {
  const source = new PowerLossSource(bytes, { maxDelay });
  const image = await driver.open(source, { writable: true, options: {} });
  return { source, image };
}

async function read(image: BochsImage, offset: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  await image.readv(offset, [buffer]);
  return buffer;
}

/** The log from `from` on, one short line per operation. */
function log(source: PowerLossSource, from = 0): string[] {
  return source.operations.slice(from).map((op: SourceOperation) => {
    if (op.kind === 'write') return `write ${op.position}+${op.bytes.length}`;
    if (op.kind === 'truncate') return `truncate ${op.size}`;
    return op.kind;
  });
}

/** A source whose barriers wait until released: to look at the image in the middle of a write. */
class GatedSource extends PowerLossSource {
  flushes = 0;
  #release: Array<() => void> = [];
  override async flush(): Promise<void> {
    this.flushes++;
    await new Promise<void>((resolve) => this.#release.push(resolve));
    await super.flush();
  }
  release(): void {
    for (const resolve of this.#release.splice(0)) resolve();
  }
}

const until = async (condition: () => boolean) => {
  for (let i = 0; i < 1000 && !condition(); i++) await new Promise((resolve) => setTimeout(resolve, 0));
  expect(condition()).toBe(true);
};

describe('Bochs writes', () => {
  it('lays out the file exactly as Bochs does for the same writes (slots in first-write order)', async () => {
    const writes = [
      { offset: 8192 + 1024, data: sectors(2, 0xa1) },
      { offset: 0, data: sectors(1, 0xb2) },
      { offset: 8192, data: sectors(1, 0xc3) }, // into an allocated extent, a clear bit
      { offset: 4096 * 5 - 512, data: sectors(3, 0xd4) }, // across two new extents
      { offset: 1032192 - 512, data: sectors(1, 0xe5) }, // the last sector
    ];
    const { source, image } = await openImage();
    for (const { offset, data } of writes) await driver.write(image, offset, [data]);
    expect(Buffer.from(source.bytes()).equals(buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes }))).toBe(true);
    expect(await read(image, 8192, 2048)).toEqual(
      Uint8Array.from([...sectors(1, 0xc3), ...sectors(1, 0), ...sectors(2, 0xa1)]),
    );
  });

  it('writes a new slot whole in one pwritev, then a barrier, then its 4-byte catalog entry', async () => {
    const { source, image } = await openImage();
    await driver.write(image, 4096 + 512, [sectors(2, 7)]);
    expect(log(source)).toEqual(['write 2560+4608', 'flush-start', 'flush-done', 'write 516+4']);
    // The slot: bit 1 and 2 set, zeros, the data, zeros.
    const slot = source.bytes().subarray(2560, 2560 + 4608);
    expect(slot[0]).toBe(0b110);
    expect(slot.subarray(512, 1024)).toEqual(sectors(1, 0));
    expect(slot.subarray(1024, 2048)).toEqual(sectors(2, 7));
    expect(slot.subarray(2048)).toEqual(new Uint8Array(4608 - 2048));
  });

  it('writes the new slots of one request in one pwritev and their entries in one write', async () => {
    const { source, image } = await openImage();
    await driver.write(image, 4096 * 3, [sectors(4 * 8, 1)]); // extents 3..6, whole
    expect(log(source)).toEqual(['write 2560+18432', 'flush-start', 'flush-done', 'write 524+16']);
    expect([...image.catalog.subarray(3, 7)]).toEqual([0, 1, 2, 3]);
  });

  it('shares barriers between allocations in flight together (group commit): 16 allocations, 2 barriers', async () => {
    const source = new GatedSource(buildBochsImage(EMPTY_BOCHS_SPEC), { maxDelay: 3 });
    const image = await driver.open(source, { writable: true, options: {} });
    const writes = [...Array(16).keys()].map((i) => driver.write(image, 4096 * i * 2, [sectors(1, i + 1)]));
    // The first barrier began after the first slot was written: the others wait for the next one.
    await until(() => source.flushes === 1 && source.operations.filter((op) => op.kind === 'write').length === 16);
    source.release();
    await until(() => source.flushes === 2);
    source.release();
    await Promise.all(writes);
    expect(source.flushes).toBe(2);
    for (let i = 0; i < 16; i++) expect((await read(image, 4096 * i * 2, 512))[0]).toBe(i + 1);
  });

  it('gives one slot to two writes into one unallocated extent; the second sets its bit after a barrier', async () => {
    const { source, image } = await openImage(undefined, 3);
    await Promise.all([driver.write(image, 0, [sectors(1, 1)]), driver.write(image, 2048, [sectors(1, 2)])]);
    expect(image.nextSlot).toBe(1);
    expect(image.allocatedExtents()).toBe(1);
    expect(source.size).toBe(2560 + 4608);
    expect((await read(image, 0, 512))[0]).toBe(1);
    expect((await read(image, 2048, 512))[0]).toBe(2);
    expect(source.bytes()[2560]).toBe(0b10001);
  });

  it('lets a read that meets an allocation in progress see zeros, never the zero-filled slot', async () => {
    const source = new GatedSource(
      buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes: [{ offset: 0, data: sectors(1, 9) }] }),
      {
        maxDelay: 0,
      },
    );
    const image = await driver.open(source, { writable: true, options: {} });
    const writing = driver.write(image, 4096, [sectors(1, 5)]);
    await until(() => source.flushes === 1); // the slot is written, its entry not yet
    expect(source.size).toBe(2560 + 2 * 4608);
    expect(await read(image, 4096, 512)).toEqual(sectors(1, 0));
    // A read of another extent goes on meanwhile: reads take no lock.
    expect((await read(image, 0, 512))[0]).toBe(9);
    source.release();
    await writing;
    expect((await read(image, 4096, 512))[0]).toBe(5);
  });

  it('overwrites written sectors in place with one write and no barrier', async () => {
    const { source, image } = await openImage(
      buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes: [{ offset: 0, data: sectors(8, 1) }] }),
    );
    const from = source.point;
    await driver.write(image, 1024, [sectors(2, 2), sectors(1, 3)]);
    expect(log(source, from)).toEqual(['write 4096+1536']);
    expect(await read(image, 1024, 1536)).toEqual(Uint8Array.from([...sectors(2, 2), ...sectors(1, 3)]));
  });

  it('remembers extents whose every bit is set: a second overwrite reads no bitmap, and a discard forgets it', async () => {
    class CountingReads extends PowerLossSource {
      reads = 0;
      override read(buffer: Uint8Array, position: number) {
        this.reads++;
        return super.read(buffer, position);
      }
    }
    const source = new CountingReads(
      buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes: [{ offset: 0, data: sectors(8, 1) }] }),
      { maxDelay: 0 },
    );
    const image = await driver.open(source, { writable: true, options: {} });
    source.reads = 0;
    await driver.write(image, 512, [sectors(1, 2)]);
    expect(source.reads).toBe(1); // the extent's bitmap, learnt whole: all set
    await driver.write(image, 1024, [sectors(1, 3)]);
    expect(source.reads).toBe(1); // none more
    await driver.discard(image, 2048, 512);
    source.reads = 0;
    const from = source.point;
    await driver.write(image, 2048, [sectors(1, 4)]);
    expect(source.reads).toBeGreaterThan(0); // forgotten: read, the bit found clear, set after a barrier
    expect(log(source, from)).toEqual(['write 5120+512', 'flush-start', 'flush-done', 'write 2560+1']);
    expect(await read(image, 0, 4096)).toEqual(
      Uint8Array.from([
        ...sectors(1, 1),
        ...sectors(1, 2),
        ...sectors(1, 3),
        ...sectors(1, 1),
        ...sectors(1, 4),
        ...sectors(3, 1),
      ]),
    );
  });

  it('sets clear bits of an allocated extent only after a barrier that follows the data, rewriting only that byte', async () => {
    const big = buildBochsImage({ diskSize: 1 << 24, catalogSize: 512, bitmapSize: 8, extentSize: 32768 });
    const { source, image } = await openImage(big);
    await driver.write(image, 0, [sectors(1, 1)]);
    const from = source.point;
    // Sectors 40..41 of extent 0: bitmap byte 5, data at 512 + 4*512 = 2560 + 512 + 40 * 512.
    await driver.write(image, 40 * 512, [sectors(2, 2)]);
    expect(log(source, from)).toEqual([
      `write ${2560 + 512 + 40 * 512}+1024`,
      'flush-start',
      'flush-done',
      'write 2565+1',
    ]);
    expect(source.bytes()[2565]).toBe(0b11);
  });

  it('sets the bits of concurrent writes into one bitmap byte without losing either', async () => {
    const { source, image } = await openImage(
      buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes: [{ offset: 0, data: sectors(1, 1) }] }),
      3,
    );
    await Promise.all([1, 2, 3, 4, 5, 6, 7].map((s) => driver.write(image, 512 * s, [sectors(1, s)])));
    expect(source.bytes()[2560]).toBe(0xff);
    for (let s = 0; s < 8; s++) expect((await read(image, 512 * s, 512))[0]).toBe(s === 0 ? 1 : s);
  });

  it('zero and discard clear the bits at once, without a barrier; unallocated extents need nothing', async () => {
    const { source, image } = await openImage(
      buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes: [{ offset: 0, data: sectors(8, 1) }] }),
    );
    const from = source.point;
    await driver.zero(image, 512, 1024, { mayUnmap: false });
    await driver.discard(image, 4096, 8192); // unallocated
    await driver.discard(image, 3584, 512);
    expect(log(source, from)).toEqual(['write 2560+1', 'write 2560+1']);
    expect(source.bytes()[2560]).toBe(0b01111001);
    expect(await read(image, 0, 4096)).toEqual(
      Uint8Array.from([...sectors(1, 1), ...sectors(2, 0), ...sectors(4, 1), ...sectors(1, 0)]),
    );
    // The slot is kept: a later write sets the bits again in place.
    await driver.write(image, 512, [sectors(1, 4)]);
    expect(image.nextSlot).toBe(1);
    expect((await read(image, 512, 512))[0]).toBe(4);
  });

  it('flushes with a barrier, and a FUA write through core is durable when it resolves', async () => {
    const source = new PowerLossSource(
      buildBochsImage({ ...EMPTY_BOCHS_SPEC, writes: [{ offset: 0, data: sectors(1, 1) }] }),
      { maxDelay: 0 },
    );
    const device = await new Registry([driver]).open(source, { format: 'bochs', writable: true });
    await device.write(0, sectors(1, 2), { fua: true });
    expect(source.durable()[2560 + 512]).toBe(2);
    await device.write(0, sectors(1, 3));
    expect(source.durable()[2560 + 512]).toBe(2);
    await device.flush();
    expect(source.durable()[2560 + 512]).toBe(3);
  });

  it('never rewrites the header: no write touches its first 512 bytes', async () => {
    const { source, image } = await openImage();
    await driver.write(image, 0, [sectors(16, 1)]);
    await driver.zero(image, 0, 512);
    await driver.flush(image);
    expect(source.operations.some((op) => op.kind === 'write' && op.position < 512)).toBe(false);
  });

  it('refuses a writable open of a file that is not a Bochs image', async () => {
    const registry = new Registry([driver]);
    await expect(
      registry.open(new MemorySource(new Uint8Array(1024)), { format: 'bochs', writable: true }),
    ).rejects.toMatchObject({ code: 'EFORMAT', message: 'Image not in Bochs format' });
  });

  const twoSlots = () =>
    buildBochsImage({
      ...EMPTY_BOCHS_SPEC,
      writes: [
        { offset: 0, data: sectors(1, 1) },
        { offset: 4096, data: sectors(1, 2) },
      ],
    });
  const withEntry = (bytes: Uint8Array, index: number, slot: number) => {
    new DataView(bytes.buffer).setUint32(512 + 4 * index, slot, true);
    return bytes;
  };
  it.each([
    ['two extents share a slot', () => withEntry(twoSlots(), 1, 0), 'Extent 1 shares slot 0 with extent 0'],
    ['an entry points past the end', () => withEntry(twoSlots(), 5, 9), 'Extent 5 points to slot 9'],
    ['the catalog is cut short', () => twoSlots().slice(0, 1500), 'is cut short by the end of the file'],
    [
      'the bitmap cannot cover the extent',
      () => buildBochsImage({ diskSize: 1 << 20, catalogSize: 256, bitmapSize: 1, extentSize: 8192 }),
      'Bitmap of 1 bytes cannot cover an extent of 16 sectors',
    ],
    [
      'the bitmap is larger than the extent',
      () => buildBochsImage({ diskSize: 1 << 20, catalogSize: 256, bitmapSize: 0xffffffff, extentSize: 4096 }),
      'its bitmap of 4294967295 bytes is larger than its extents of 4096 bytes',
    ],
    [
      'the header is not 512 bytes',
      () => buildBochsImage({ ...EMPTY_BOCHS_SPEC, headerSize: 1024 }),
      'its header is 1024 bytes, not 512',
    ],
  ])('opens writable but refuses every write when %s, and changes nothing', async (_case, make, reason) => {
    const bytes = make();
    const source = new PowerLossSource(bytes, { maxDelay: 0 });
    const image = await driver.open(source, { writable: true, options: {} });
    await expect(driver.write(image, 8192, [sectors(1, 9)])).rejects.toMatchObject({
      code: 'EFORMAT',
      message: expect.stringContaining(reason),
    });
    await expect(driver.zero(image, 0, 512)).rejects.toThrow('Image cannot be written safely');
    expect(source.operations).toEqual([]);
    // check -r still runs, and reports.
    const report = await driver.check(image, { repair: 'leaks' });
    expect(report.repaired).toBeDefined();
  });

  it('refuses to write through a read-only open', async () => {
    const image = await driver.open(new PowerLossSource(buildBochsImage(EMPTY_BOCHS_SPEC)), {
      writable: false,
      options: {},
    });
    await expect(driver.write(image, 0, [sectors(1, 1)])).rejects.toMatchObject({ code: 'EROFS' });
  });

  it('takes the next slot after the largest entry, as Bochs does, over an orphan slot at the end', async () => {
    const base = buildBochsImage({
      ...EMPTY_BOCHS_SPEC,
      writes: [
        { offset: 0, data: sectors(1, 1) },
        { offset: 4096, data: sectors(1, 2) },
      ],
    });
    // An orphan third slot (a crash before its entry), full of garbage.
    const withOrphan = new Uint8Array(base.length + 4608).fill(0xee);
    withOrphan.set(base);
    const { source, image } = await openImage(withOrphan);
    expect(image.nextSlot).toBe(2);
    await driver.write(image, 4096 * 9, [sectors(1, 3)]);
    expect(image.catalog[9]).toBe(2);
    expect(source.size).toBe(withOrphan.length);
    expect(await read(image, 4096 * 9, 4096)).toEqual(Uint8Array.from([...sectors(1, 3), ...sectors(7, 0)]));
  });

  it('fails a write whose new slot would lie beyond 2^53, and frees the extent for a later try', async () => {
    // 8 MiB extents (slots of 2048 + 8 MiB bytes); extent 0 claims slot 0xfffffff0, so the
    // next slot is at about 2^56: a number cannot hold that offset exactly. The entry points
    // past the end of the file, so the guard refuses writes first; lift it to reach the slot.
    const bytes = buildBochsImage({ diskSize: 1 << 24, catalogSize: 2, bitmapSize: 2048, extentSize: 1 << 23 });
    new DataView(bytes.buffer).setUint32(512, 0xfffffff0, true);
    const source = new PowerLossSource(bytes, { maxDelay: 0 });
    const image = await driver.open(source, { writable: false, options: {} });
    const writable = new BochsImage(source, image.header, image.geometry, image.catalog, true);
    expect(writable.nextSlot).toBe(0xfffffff1);
    for (let attempt = 0; attempt < 2; attempt++) {
      await expect(driver.write(writable, 1 << 23, [sectors(1, 1)])).rejects.toMatchObject({ code: 'EOVERFLOW' });
    }
    expect(writable.nextSlot).toBe(0xfffffff1);
    expect(source.operations).toEqual([]);
  });
});
