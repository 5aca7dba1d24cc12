import {
  allocationMap,
  type BackingOpener,
  type BlockDevice,
  ImageFormatError,
  type MapRun,
  MemorySource,
  Registry,
  VdiskError,
} from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { BochsSparseDriver, parentLayerName } from './sparse-driver.js';
import { GrowableSource } from './testing/growable-source.js';
import { buildSparseImage } from './testing/sparse-builder.js';

const PAGE = 32768;
const DISK = 10321920; // bximage -hd=10M
const driver = new BochsSparseDriver();
const registry = new Registry([new BochsDriver(), driver]);

const filled = (length: number, value: number) => new Uint8Array(length).fill(value);

async function openWritable(source: GrowableSource, filename?: string, opener?: BackingOpener): Promise<BlockDevice> {
  return registry.open(source, { format: 'bochs-sparse', writable: true, filename, backingOpener: opener });
}

/** Writes through the driver as core's BlockDevice.write does for aligned requests. */
async function write(device: BlockDevice, offset: number, data: Uint8Array): Promise<void> {
  await device.driver.write?.(device.image, offset, [data], {});
}

async function mapOf(device: BlockDevice): Promise<MapRun[]> {
  const runs: MapRun[] = [];
  for await (const run of allocationMap(device)) runs.push(run);
  return runs;
}

describe('bochs-sparse', () => {
  it('probes 100 on the magic and a known version, 0 otherwise', () => {
    const header = buildSparseImage({ diskSize: DISK }).subarray(0, 512);
    expect(driver.probe(header)).toBe(100);
    const v3 = header.slice();
    v3[4] = 3;
    expect(driver.probe(v3)).toBe(0);
    expect(driver.probe(new Uint8Array(512))).toBe(0);
  });

  it("creates bximage's fresh image: header, a table of free pages, padding to the page", async () => {
    const target = new GrowableSource();
    await driver.create(target, { virtualSize: DISK, options: {} });
    const bytes = target.contents();
    // bximage -q -func=create -hd=10M -imgmode=sparse: 316 pages, a 32768-byte file.
    expect(bytes.length).toBe(32768);
    const view = new DataView(bytes.buffer);
    expect([
      view.getUint32(0, true),
      view.getUint32(4, true),
      view.getUint32(8, true),
      view.getUint32(12, true),
    ]).toEqual([0x02468ace, 2, 32768, 316]);
    expect(view.getBigUint64(16, true)).toBe(BigInt(DISK));
    expect(bytes.subarray(24, 256).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(256, 256 + 4 * 316).every((b) => b === 0xff)).toBe(true);
    expect(bytes.subarray(256 + 4 * 316).every((b) => b === 0)).toBe(true);
    expect(bytes).toEqual(buildSparseImage({ diskSize: DISK }).subarray(0, 32768));
    // The last flush makes the new image durable.
    expect(target.log.at(-1)).toEqual({ kind: 'flush' });
  });

  it('a table that ends on a page boundary gets a whole page of padding, as bximage writes', async () => {
    const pages = 8192 - 64; // 256 + 4 * pages = 32768
    const target = new GrowableSource();
    await driver.create(target, { virtualSize: (pages - 1) * PAGE, options: {} });
    expect(target.size).toBe(2 * PAGE);
  });

  it('reads pages from the table, zeros elsewhere, and maps them', async () => {
    const image = buildSparseImage({
      diskSize: DISK,
      pages: [
        { page: 3, data: filled(PAGE, 0x33) },
        { page: 1, data: filled(PAGE, 0x11) },
      ],
    });
    const device = await registry.open(new MemorySource(image));
    expect(device.format).toBe('bochs-sparse');
    expect(device.virtualSize).toBe(DISK);
    const bytes = await device.read(0, 4 * PAGE);
    expect(bytes.subarray(0, PAGE).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(PAGE, 2 * PAGE).every((b) => b === 0x11)).toBe(true);
    expect(bytes.subarray(2 * PAGE, 3 * PAGE).every((b) => b === 0)).toBe(true);
    expect(bytes.subarray(3 * PAGE).every((b) => b === 0x33)).toBe(true);
    // No parent: holes are present zeros.
    expect((await mapOf(device)).slice(0, 4)).toEqual([
      { offset: 0, length: PAGE, depth: 0, present: true, zero: true, data: false },
      { offset: PAGE, length: PAGE, depth: 0, present: true, zero: false, data: true, fileOffset: 2 * PAGE },
      { offset: 2 * PAGE, length: PAGE, depth: 0, present: true, zero: true, data: false },
      { offset: 3 * PAGE, length: PAGE, depth: 0, present: true, zero: false, data: true, fileOffset: PAGE },
    ]);
    expect(device.info()).toEqual({
      type: 'bochs-sparse',
      data: { version: 2, 'page-size': PAGE, 'page-count': 316, 'data-start': PAGE },
    });
    await device.close();
  });

  it('writes a new page at the end, as Bochs: data, 4 zero bytes at its end, a barrier, then the entry', async () => {
    const source = new GrowableSource(buildSparseImage({ diskSize: DISK }).subarray(0, PAGE));
    const device = await openWritable(source);
    await write(device, 5 * PAGE + 1024, filled(512, 0xab));
    expect(source.log).toEqual([
      { kind: 'write', position: PAGE + 1024, length: 512 },
      { kind: 'write', position: 2 * PAGE - 4, length: 4 },
      { kind: 'flush' },
      { kind: 'write', position: 256 + 4 * 5, length: 4 },
    ]);
    expect(source.size).toBe(2 * PAGE);
    // A write into an allocated page goes in place.
    source.log.length = 0;
    await write(device, 5 * PAGE, filled(512, 0xcd));
    expect(source.log).toEqual([{ kind: 'write', position: PAGE, length: 512 }]);
    const page = await device.read(5 * PAGE, PAGE);
    expect(page.subarray(0, 512).every((b) => b === 0xcd)).toBe(true);
    expect(page.subarray(512, 1024).every((b) => b === 0)).toBe(true);
    expect(page.subarray(1024, 1536).every((b) => b === 0xab)).toBe(true);
    expect(page.subarray(1536).every((b) => b === 0)).toBe(true);
    await device.close();
    // What a reader built from the spec sees.
    const reopened = await registry.open(new MemorySource(source.contents()));
    expect(await reopened.read(5 * PAGE, PAGE)).toEqual(page);
    expect(await driver.check(reopened.image as never)).toEqual({ problems: [] });
  });

  it('a write spanning new pages writes them all, one barrier, then their entries in one write', async () => {
    const source = new GrowableSource(buildSparseImage({ diskSize: DISK }).subarray(0, PAGE));
    const device = await openWritable(source);
    await write(device, 2 * PAGE, filled(3 * PAGE, 7));
    expect(source.log.filter((op) => op.kind === 'flush')).toHaveLength(1);
    expect(source.log.at(-1)).toEqual({ kind: 'write', position: 256 + 8, length: 12 });
    expect((await device.read(2 * PAGE, 3 * PAGE)).every((b) => b === 7)).toBe(true);
    await device.close();
  });

  it('refuses a table the file does not hold, a bad page size, and a disk beyond its pages', async () => {
    const short = buildSparseImage({ diskSize: DISK }).subarray(0, 256 + 100);
    await expect(registry.open(new MemorySource(short))).rejects.toThrow('could not read entire block table');
    const odd = buildSparseImage({ diskSize: DISK, pageSize: 3000 * 2 });
    await expect(registry.open(new MemorySource(odd))).rejects.toThrow('failed block size header check');
    const tiny = buildSparseImage({ diskSize: DISK, pageSize: 256, pageCount: 4 });
    await expect(registry.open(new MemorySource(tiny))).rejects.toThrow(
      'page size of sparse disk image is not multiple of sector size',
    );
    const big = buildSparseImage({ diskSize: DISK, pageCount: 10 });
    await expect(registry.open(new MemorySource(big))).rejects.toBeInstanceOf(ImageFormatError);
  });

  it('reads entries past the end of the file as zeros and calls them corruption; an 8 TiB table opens bounded', async () => {
    const image = buildSparseImage({ diskSize: DISK, entries: [{ page: 2, entry: 0xfffffffe }] });
    const device = await registry.open(new MemorySource(image));
    expect((await device.read(2 * PAGE, PAGE)).every((b) => b === 0)).toBe(true);
    const report = await driver.check(device.image as never);
    expect(report.problems).toEqual([
      { kind: 'corruption', extent: 2, message: 'Page 2 points to page 4294967294, past the end of the file' },
    ]);
    await device.close();
    // 2^28 pages of 32 KiB: a 1 GiB table claimed by a file that holds it only virtually
    // (a source whose reads past its bytes are zeros, sized as the table needs).
    const header = buildSparseImage({ diskSize: 0, pageCount: 1 }).subarray(0, 256);
    const view = new DataView(header.buffer, header.byteOffset);
    view.setUint32(12, 2 ** 28, true);
    view.setBigUint64(16, BigInt(2 ** 28 * PAGE), true);
    const huge = {
      size: 256 + 4 * 2 ** 28,
      read: new MemorySource(header).read.bind(new MemorySource(header)),
      close: async () => {},
    };
    const bigDevice = await registry.open(huge, { format: 'bochs-sparse' });
    expect(bigDevice.virtualSize).toBe(2 ** 43);
    // Table entries read as zeros here: page 0 of the file, past its end, reads zeros.
    expect((await bigDevice.read(2 ** 42, 4096)).every((b) => b === 0)).toBe(true);
    await bigDevice.close();
  });

  it('check finds pages named twice, unused pages and a cut last page; -r leaks cuts leaked pages at the end', async () => {
    const image = buildSparseImage({
      diskSize: DISK,
      pages: [
        { page: 0, data: filled(PAGE, 1) },
        { page: 1, data: filled(PAGE, 2) },
        { page: 2, data: filled(PAGE, 3) },
      ],
      entries: [{ page: 2, entry: 0xffffffff }],
    });
    const withTail = new Uint8Array(image.length + 100);
    withTail.set(image);
    const source = new GrowableSource(withTail);
    const device = await openWritable(source);
    expect((await driver.check(device.image as never)).problems).toEqual([
      { kind: 'leak', extent: 2, message: 'Page 2 of the file is not used' },
      { kind: 'leak', message: '100 bytes past the last whole page' },
    ]);
    const repaired = await driver.check(device.image as never, { repair: 'leaks' });
    expect(repaired).toEqual({ problems: [], repaired: { corruptions: 0, leaks: 2 } });
    expect(source.size).toBe(3 * PAGE);
    // The next page goes where the cut one was.
    await write(device, 9 * PAGE, filled(512, 9));
    expect((await device.blockStatus(9 * PAGE, 512))[0]?.fileOffset).toBe(3 * PAGE);
    await device.close();

    const twice = buildSparseImage({
      diskSize: DISK,
      pages: [{ page: 0, data: filled(PAGE, 1) }],
      entries: [{ page: 7, entry: 0 }],
    });
    const shared = await registry.open(new MemorySource(twice));
    expect((await driver.check(shared.image as never)).problems).toEqual([
      { kind: 'corruption', extent: 7, message: 'Page 7 points to page 0, which another page uses too' },
    ]);
    await shared.close();
  });

  it('names a layer after Bochs: the last digit minus one, only for a digit above 0', () => {
    expect(parentLayerName('dir/c.img.1')).toBe('c.img.0');
    expect(parentLayerName('c9')).toBe('c8');
    expect(parentLayerName('c.img.0')).toBeUndefined();
    expect(parentLayerName('c.img')).toBeUndefined();
    expect(parentLayerName(undefined)).toBeUndefined();
  });

  describe('layers', () => {
    const lower = buildSparseImage({
      diskSize: DISK,
      pages: [
        { page: 0, data: filled(PAGE, 0x10) },
        { page: 1, data: filled(PAGE, 0x11) },
      ],
    });
    const upper = buildSparseImage({ diskSize: DISK, pages: [{ page: 1, data: filled(PAGE, 0x21) }] });
    const opener = (files: Record<string, Uint8Array>): BackingOpener => ({
      identity: 'top',
      async open(reference) {
        const bytes = files[reference.filename];
        if (!bytes) {
          if (reference.ifExists) return undefined;
          throw new VdiskError('EIO', 'No such file or directory');
        }
        return { source: new MemorySource(bytes), filename: reference.filename, identity: reference.filename };
      },
    });

    it('reads c.img.1 over c.img.0 when the format is named, and maps each page at its layer', async () => {
      const device = await registry.open(new MemorySource(upper), {
        format: 'bochs-sparse',
        filename: 'c.img.1',
        backingOpener: opener({ 'c.img.0': lower }),
      });
      expect(device.backing?.filename).toBe('c.img.0');
      const bytes = await device.read(0, 3 * PAGE);
      expect(bytes.subarray(0, PAGE).every((b) => b === 0x10)).toBe(true);
      expect(bytes.subarray(PAGE, 2 * PAGE).every((b) => b === 0x21)).toBe(true);
      expect(bytes.subarray(2 * PAGE).every((b) => b === 0)).toBe(true);
      expect((await mapOf(device)).slice(0, 3)).toEqual([
        { offset: 0, length: PAGE, depth: 1, present: true, zero: false, data: true, fileOffset: PAGE },
        { offset: PAGE, length: PAGE, depth: 0, present: true, zero: false, data: true, fileOffset: PAGE },
        { offset: 2 * PAGE, length: DISK - 2 * PAGE, depth: 1, present: false, zero: true, data: false },
      ]);
      await device.close();
    });

    it('never follows a layer while probing', async () => {
      const device = await registry.open(new MemorySource(upper), {
        filename: 'c.img.1',
        backingOpener: opener({ 'c.img.0': lower }),
      });
      expect(device.format).toBe('bochs-sparse');
      expect(device.backing).toBeUndefined();
      expect((await device.read(0, PAGE)).every((b) => b === 0)).toBe(true);
      await device.close();
    });

    it('a new page in a layer starts as the parent page, merged with the write (Bochs)', async () => {
      const source = new GrowableSource(buildSparseImage({ diskSize: DISK }).subarray(0, PAGE));
      const device = await openWritable(source, 'c.img.1', opener({ 'c.img.0': lower }));
      await write(device, 512, filled(512, 0x77));
      const page = await device.read(0, PAGE);
      expect(page.subarray(0, 512).every((b) => b === 0x10)).toBe(true);
      expect(page.subarray(512, 1024).every((b) => b === 0x77)).toBe(true);
      expect(page.subarray(1024).every((b) => b === 0x10)).toBe(true);
      // The whole page is in the layer's file: the parent is not needed to read it.
      expect(source.log[0]).toEqual({ kind: 'write', position: PAGE, length: PAGE });
      await device.close();
      expect(lower.subarray(PAGE, PAGE + 1024).every((b) => b === 0x10)).toBe(true);
    });

    it('refuses a parent of another page configuration, in Bochs words', async () => {
      const other = buildSparseImage({ diskSize: DISK * 2 });
      await expect(
        registry.open(new MemorySource(upper), {
          format: 'bochs-sparse',
          filename: 'c.img.1',
          backingOpener: opener({ 'c.img.0': other }),
        }),
      ).rejects.toThrow('child drive image does not have same page count/page size configuration');
    });
  });
});
