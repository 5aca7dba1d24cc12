import { type BlockDriver, MemorySource, Registry } from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import { RawDriver } from './raw-driver.js';

const bytes = Uint8Array.from({ length: 4096 }, (_, i) => (i * 5 + 1) & 0xff);
const open = (options: Record<string, string> = {}, data = bytes) =>
  new Registry([new RawDriver()]).open(new MemorySource(data), { format: 'raw', options });

describe('raw', () => {
  it('scores 1 on anything', () => {
    expect(new RawDriver().probe()).toBe(1);
  });

  it('has the exact size of the file, not rounded up to 512 as QEMU 7.2 shows it', async () => {
    const device = await open({}, bytes.subarray(0, 100));
    expect(device.virtualSize).toBe(100);
    expect(await device.read(0, 100)).toEqual(bytes.subarray(0, 100));
  });

  it('passes reads straight through', async () => {
    const device = await open();
    expect(await device.read(1000, 333)).toEqual(bytes.subarray(1000, 1333));
    expect(device.info()).toBeUndefined();
  });

  it('exposes a window of the file with offset and size', async () => {
    const device = await open({ offset: '1000', size: '1024' });
    expect(device.virtualSize).toBe(1024);
    expect(await device.read(0, 1024)).toEqual(bytes.subarray(1000, 2024));
    expect(device.info()).toEqual({ type: 'raw', data: { offset: 1000, size: 1024 } });
    expect(await device.blockStatus(0, 1024)).toEqual([{ offset: 0, length: 1024, data: true, fileOffset: 1000 }]);
  });

  it("takes sizes with QEMU's suffixes", async () => {
    const big = new Uint8Array(3 * 1024 * 1024);
    const device = await open({ offset: '1M', size: '1.5M' }, big);
    expect(device.info()).toEqual({ type: 'raw', data: { offset: 1048576, size: 1572864 } });
    expect((await open({ offset: '0x200' })).virtualSize).toBe(4096 - 512);
  });

  it('defaults the size to the rest of the file', async () => {
    expect((await open({ offset: '96' })).virtualSize).toBe(4000);
  });

  it.each([
    [{ offset: '4097' }, 'Offset (4097) cannot be greater than size of the containing file (4096)'],
    [
      { offset: '1024', size: '3584' },
      'The sum of offset (1024) and size (3584) has to be smaller or equal to the  actual size of the containing file (4096)',
    ],
    [{ size: '1000' }, 'Specified size is not multiple of 512'],
    [{ offset: '-1' }, "Parameter 'offset' expects a non-negative number below 2^53"],
    [{ size: '99999999999999999999' }, "Parameter 'size' expects a non-negative number below 2^53"],
    [{ bogus: '1' }, "Block format 'raw' does not support the option 'bogus'"],
  ])("rejects %o with QEMU's message", async (options, message) => {
    await expect(open(options)).rejects.toMatchObject({ code: 'EINVAL', message });
  });

  it('writes through to the file, inside its offset and size window only', async () => {
    const data = bytes.slice();
    const source = new MemorySource(data);
    const device = await new Registry([new RawDriver()]).open(source, {
      format: 'raw',
      writable: true,
      options: { offset: '1000', size: '1024' },
    });
    expect(device.writable).toBe(true);
    await device.write(10, new Uint8Array(5).fill(0xee));
    await device.writeZeroes(1020, 4);
    await device.flush();
    const expected = bytes.slice();
    expected.fill(0xee, 1010, 1015);
    expected.fill(0, 2020, 2024);
    expect(source.bytes).toEqual(expected);
    await expect(device.write(1024, new Uint8Array(1))).rejects.toMatchObject({ code: 'ERANGE' });
    expect(source.size).toBe(4096);
  });

  it('flushes the file', async () => {
    const source = new MemorySource(bytes.slice());
    let flushes = 0;
    source.flush = async () => {
      flushes++;
    };
    const device = await new Registry([new RawDriver()]).open(source, { format: 'raw', writable: true });
    await device.write(0, new Uint8Array(1), { fua: true });
    await device.flush();
    expect(flushes).toBe(2);
  });

  it('refuses writes when opened read-only', async () => {
    const device = await open();
    await expect(device.write(0, new Uint8Array(1))).rejects.toMatchObject({
      code: 'EROFS',
      message: 'Image is read-only',
    });
  });

  it('creates an image of exactly the size asked for, zeros, with no options', async () => {
    const registry = new Registry([new RawDriver()]);
    const target = new MemorySource();
    await registry.create('raw', target, { virtualSize: 100003 });
    expect(target.size).toBe(100003);
    const device = await registry.open(target, { format: 'raw' });
    expect(device.virtualSize).toBe(100003);
    expect((await device.read(0, 100003)).every((b) => b === 0)).toBe(true);
    await expect(
      registry.create('raw', new MemorySource(), { virtualSize: 512, options: { preallocation: 'full' } }),
    ).rejects.toMatchObject({ code: 'EINVAL', message: "Invalid parameter 'preallocation'" });
  });

  describe('guessed by probing', () => {
    // Another format, as the registry knows it: `MAGICDSK` at 0. Raw knows no format.
    const magic: BlockDriver = {
      name: 'magic',
      probe: (sector) => (new TextDecoder().decode(sector.subarray(0, 8)) === 'MAGICDSK' ? 100 : 0),
      open: () => Promise.reject(new Error('not used')),
    };
    const registry = new Registry([new RawDriver(), magic]);
    const text = (s: string) => new TextEncoder().encode(s);

    it('refuses a write to the first sector that would make the image probe as another format', async () => {
      const source = new MemorySource(bytes.slice());
      const device = await registry.open(source, { writable: true });
      expect(device.format).toBe('raw');
      expect(device.probeGuessed).toBe(true);
      const before = source.bytes.slice();
      await expect(device.write(0, text('MAGICDSK'))).rejects.toMatchObject({
        code: 'EPERM',
        message: 'Operation not permitted',
      });
      // Completing a header with an unaligned write counts too: the result is probed.
      await device.write(0, text('MAGIC'));
      await expect(device.write(5, text('DSK'))).rejects.toMatchObject({ code: 'EPERM' });
      before.set(text('MAGIC'), 0);
      expect(source.bytes).toEqual(before);
      // Other writes to the first sector, and anything after it, are allowed.
      await device.write(0, text('NOTMAGIC'));
      await device.write(512, text('MAGICDSK'));
      await device.writeZeroes(0, 4096);
    });

    it('lifts the restriction when the format is named', async () => {
      const source = new MemorySource(bytes.slice());
      const device = await registry.open(source, { format: 'raw', writable: true });
      expect(device.probeGuessed).toBe(false);
      await device.write(0, text('MAGICDSK'));
      expect(registry.probeBytes(source.bytes.subarray(0, 512), source.size).format).toBe('magic');
    });

    it('refuses a write that would make the last sector probe as another format (a fixed VHD footer)', async () => {
      // `FOOTER!!` at the start of the last sector: probed from the context's lastSector, as vpc does.
      const footer: BlockDriver = {
        name: 'footer',
        probe: (_sector, context) =>
          context?.lastSector && new TextDecoder().decode(context.lastSector.subarray(0, 8)) === 'FOOTER!!' ? 100 : 0,
        open: () => Promise.reject(new Error('not used')),
      };
      const withFooter = new Registry([new RawDriver(), footer]);
      const source = new MemorySource(bytes.slice());
      const device = await withFooter.open(source, { writable: true });
      expect(device.probeGuessed).toBe(true);
      const before = source.bytes.slice();
      await expect(device.write(4096 - 512, text('FOOTER!!'))).rejects.toMatchObject({ code: 'EPERM' });
      // Also when the write only completes it, and as part of a longer write that ends there.
      await device.write(4096 - 512, text('FOOT'));
      await expect(device.write(4096 - 508, text('ER!!'))).rejects.toMatchObject({ code: 'EPERM' });
      const long = new Uint8Array(1024);
      long.set(text('FOOTER!!'), 512);
      await expect(device.write(4096 - 1024, long)).rejects.toMatchObject({ code: 'EPERM' });
      before.set(text('FOOT'), 4096 - 512);
      expect(source.bytes).toEqual(before);
      // The same bytes in the middle of the disk are only data.
      await device.write(1024, text('FOOTER!!'));
      // Named, the format is no guess: the footer may be written.
      const named = await withFooter.open(new MemorySource(bytes.slice()), { format: 'raw', writable: true });
      await named.write(4096 - 512, text('FOOTER!!'));
    });

    it('guards an image shorter than a sector', async () => {
      const source = new MemorySource(bytes.slice(0, 10));
      const device = await registry.open(source, { writable: true });
      await expect(device.write(0, text('MAGICDSK'))).rejects.toMatchObject({ code: 'EPERM' });
      await device.write(2, text('xy'));
    });
  });
});
