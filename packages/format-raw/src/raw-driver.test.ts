import { MemorySource, Registry } from '@vdisk/core';
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

  it('refuses to open for writing', async () => {
    await expect(
      new Registry([new RawDriver()]).open(new MemorySource(bytes), { format: 'raw', writable: true }),
    ).rejects.toMatchObject({ code: 'EROFS', message: 'Image is read-only' });
  });
});
