import { PowerLossSource } from '@vdisk/core/testing';
import { describe, expect, it } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { buildBochsImage } from './testing/image-builder.js';

const driver = new BochsDriver();

async function create(virtualSize: number, options: Record<string, string> = {}): Promise<Uint8Array> {
  const target = new PowerLossSource();
  await driver.create(target, { virtualSize, options });
  return target.bytes();
}

const field = (bytes: Uint8Array, offset: number) => new DataView(bytes.buffer).getUint32(offset, true);

describe('Bochs create', () => {
  // BOCHS-FAMILY.md §2: what bximage -func=create -imgmode=growing makes for each -hd.
  it.each([
    ['10M', 10321920, 1024, 4, 16384, 4608],
    ['100M', 104767488, 4096, 8, 32768, 16896],
    ['1G', 1073479680, 8192, 32, 131072, 33280],
    ['8G', 8589901824, 32768, 64, 262144, 131584],
    ['64G', 68719214592, 65536, 256, 1048576, 262656],
    ['2000G', 2147483197440, 524288, 1024, 4194304, 2097664],
    ['8257535M', 8658652520448, 1048576, 2048, 8388608, 4194816],
  ])(
    '-hd=%s (%d bytes): catalog %d, bitmap %d, extent %d, %d bytes',
    async (_hd, size, catalog, bitmap, extent, fileSize) => {
      const bytes = await create(size);
      expect(bytes.length).toBe(fileSize);
      expect([field(bytes, 0x48), field(bytes, 0x4c), field(bytes, 0x50)]).toEqual([catalog, bitmap, extent]);
      expect(new DataView(bytes.buffer).getBigUint64(0x58, true)).toBe(BigInt(size));
      // The test builder writes the header and catalog from the spec, as bximage does.
      expect(Buffer.from(bytes).equals(Buffer.from(buildBochsImage({ diskSize: size })))).toBe(true);
    },
  );

  it('opens what it made: an empty disk of the size asked for, rounded up to 512', async () => {
    const bytes = await create(1000);
    const image = await driver.open(new PowerLossSource(bytes), { writable: true, options: {} });
    expect(image.virtualSize).toBe(1024);
    expect(await driver.check(image)).toEqual({ problems: [] });
    expect(field(bytes, 0x54)).toBe(0); // timestamp 0, as bximage's create
  });

  it('takes -o extent_size, with bochs_open messages for a bad one', async () => {
    const bytes = await create(10 << 20, { extent_size: '64k' });
    expect([field(bytes, 0x48), field(bytes, 0x4c), field(bytes, 0x50)]).toEqual([256, 16, 65536]);
    const small = await create(4096, { extent_size: '512' });
    expect([field(small, 0x48), field(small, 0x4c), field(small, 0x50)]).toEqual([128, 1, 512]);
    await expect(create(1 << 20, { extent_size: '256' })).rejects.toThrow('Extent size must be at least 512');
    await expect(create(1 << 20, { extent_size: '3000' })).rejects.toThrow('Extent size 3000 is not a power of two');
    await expect(create(1 << 20, { extent_size: '16M' })).rejects.toThrow('Extent size 16777216 is too large');
    await expect(create(1 << 30, { extent_size: '512' })).rejects.toThrow('Catalog size is too large');
    await expect(create(1 << 20, { extent_size: 'lots' })).rejects.toThrow("Parameter 'extent_size' expects a size");
  });

  it('refuses unknown options by name, bad sizes, and sizes past 8 TiB', async () => {
    await expect(create(1 << 20, { cluster_size: '4k' })).rejects.toMatchObject({
      code: 'EINVAL',
      message: "Invalid parameter 'cluster_size'",
    });
    await expect(create(-1)).rejects.toThrow('Invalid image size -1');
    await expect(create(2 ** 43 + 512)).rejects.toThrow('too large for a Bochs image');
    expect((await create(2 ** 43)).length).toBe(512 + 4 * 1048576);
  });

  it('leaves no tail of a target that was not empty', async () => {
    const target = new PowerLossSource(new Uint8Array(100_000).fill(0x77));
    await driver.create(target, { virtualSize: 10321920, options: {} });
    expect(Buffer.from(target.bytes()).equals(Buffer.from(buildBochsImage({ diskSize: 10321920 })))).toBe(true);
  });
});
