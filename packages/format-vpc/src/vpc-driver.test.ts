import { checkCrashSafety } from '@vdisk/conformance';
import { MemorySource, Registry, VdiskError } from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import { createImage, vhdLayout } from './create-image.js';
import { FOOTER, vhdChecksum } from './footer.js';
import { VpcDriver } from './vpc-driver.js';

const driver = new VpcDriver();
const registry = new Registry([driver]);
const MiB = 1024 * 1024;

async function created(size: number, options: Record<string, string> = {}): Promise<Uint8Array> {
  const target = new MemorySource();
  await createImage(target, { virtualSize: size, options });
  return target.bytes.slice();
}

/** Sets a big-endian field and fixes the footer's checksum (at `at`, 0 or the last sector). */
function patchFooter(bytes: Uint8Array, at: number, patch: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  const view = new DataView(copy.buffer, at, 512);
  patch(view);
  view.setUint32(FOOTER.checksum, vhdChecksum(copy.subarray(at, at + 512), FOOTER.checksum));
  return copy;
}

async function openError(bytes: Uint8Array, options: Record<string, string> = {}): Promise<string> {
  try {
    const device = await registry.open(new MemorySource(bytes), { format: 'vpc', options });
    await device.close();
  } catch (error) {
    expect(error).toBeInstanceOf(VdiskError);
    return (error as Error).message;
  }
  throw new Error('opened');
}

describe('vpc sizing, as QEMU 7.2 creates and reads it', () => {
  it('rounds 10M up to the CHS geometry 302/4/17 (qemu-img create makes 10514432 bytes)', () => {
    expect(vhdLayout(10 * MiB, false)).toEqual({ cylinders: 302, heads: 4, sectors: 17, currentSize: 10514432 });
  });

  it('keeps the exact size with force_size, and the largest geometry', () => {
    expect(vhdLayout(10 * MiB, true)).toEqual({ cylinders: 65535, heads: 16, sectors: 255, currentSize: 10 * MiB });
  });

  it('reads a qemu image by CHS and a qem2 (force_size) image by its current size', async () => {
    for (const [options, size] of [
      [{}, 10514432],
      [{ force_size: 'on' }, 10 * MiB],
    ] as const) {
      const device = await registry.open(new MemorySource(await created(10 * MiB, options)), { format: 'vpc' });
      expect(device.virtualSize).toBe(size);
      await device.close();
    }
  });

  it('uses the current size for Hyper-V, disk2vhd, XenServer and XenConverter creators, CHS for Virtual PC', async () => {
    const base = await created(10 * MiB);
    for (const [app, size] of [
      ['win ', 10514432 - 512],
      ['d2v ', 10514432 - 512],
      ['CTXS', 10514432 - 512],
      ['tap\0', 10514432 - 512],
      ['vpc ', 10514432],
    ] as const) {
      const bytes = patchFooter(base, 0, (v) => {
        for (let i = 0; i < 4; i++) v.setUint8(FOOTER.creatorApp + i, app.charCodeAt(i));
        v.setBigUint64(FOOTER.currentSize, BigInt(10514432 - 512));
      });
      const device = await registry.open(new MemorySource(bytes), { format: 'vpc' });
      expect(device.virtualSize, app).toBe(size);
      await device.close();
    }
  });

  it('takes force_size_calc as QEMU does, and names a bad value', async () => {
    const bytes = patchFooter(await created(10 * MiB), 0, (v) => v.setBigUint64(FOOTER.currentSize, 4n * BigInt(MiB)));
    const device = await registry.open(new MemorySource(bytes), {
      format: 'vpc',
      options: { force_size_calc: 'current_size' },
    });
    expect(device.virtualSize).toBe(4 * MiB);
    await device.close();
    expect(await openError(bytes, { force_size_calc: 'x' })).toBe('Invalid size calculation mode: x');
    expect(await openError(bytes, { nope: '1' })).toBe("Block format 'vpc' does not support the option 'nope'");
  });
});

describe('vpc probe', () => {
  it('scores a dynamic image by its footer copy, and a fixed one by its last sector', async () => {
    const dynamic = await created(4 * MiB);
    expect(driver.probe(dynamic.subarray(0, 512))).toBe(100);
    const fixed = await created(4 * MiB, { subformat: 'fixed' });
    expect(driver.probe(fixed.subarray(0, 512))).toBe(0);
    expect(driver.probe(fixed.subarray(0, 512), { lastSector: fixed.subarray(-512) })).toBe(100);
    expect((await registry.probe(new MemorySource(fixed))).format).toBe('vpc');
  });

  it('scores a wrong checksum 50 (open then says why), and a dynamic footer at the end 0', async () => {
    const bad = (await created(4 * MiB)).slice();
    bad[FOOTER.checksum] = (bad[FOOTER.checksum] as number) ^ 1;
    expect(driver.probe(bad.subarray(0, 512))).toBe(50);
    expect(await openError(bad)).toBe('Incorrect header checksum');
    const dynamic = await created(4 * MiB);
    expect(driver.probe(new Uint8Array(512), { lastSector: dynamic.subarray(-512) })).toBe(0);
  });
});

describe("vpc open: QEMU's messages", () => {
  it('refuses what QEMU refuses', async () => {
    const dynamic = await created(4 * MiB);
    expect(await openError(new Uint8Array(100))).toBe('File too small for a VHD header');
    expect(await openError(new Uint8Array(4096))).toBe('invalid VPC image');
    const headerAt = (patch: (view: DataView) => void) => {
      const copy = dynamic.slice();
      patch(new DataView(copy.buffer, 512, 1024));
      return copy;
    };
    expect(await openError(headerAt((v) => v.setUint8(0, 0x78)))).toBe('Invalid header magic');
    expect(await openError(headerAt((v) => v.setUint32(32, 1000)))).toBe('Invalid block size 1000');
    expect(await openError(headerAt((v) => v.setUint32(28, 1)))).toBe('Page table too small');
    expect(await openError(headerAt((v) => v.setUint32(28, 0x7fffffff)))).toBe(
      'Max Table Entries too large (2147483647)',
    );
    expect(await openError(headerAt((v) => v.setUint32(28, 0xffffffff)))).toBe('Max Table Entries too large (-1)');
    const truncated = 'block-vpc: free_data_block_offset points after the end of file. The image has been truncated.';
    expect(await openError(headerAt((v) => v.setBigUint64(16, 2n ** 62n)))).toBe(truncated);
    const farBlock = dynamic.slice();
    new DataView(farBlock.buffer).setUint32(1536, 100);
    expect(await openError(farBlock)).toBe(truncated);
    expect(await openError(patchFooter(dynamic, 0, (v) => v.setBigUint64(FOOTER.dataOffset, 2n ** 62n)))).toBe(
      'Invalid header magic',
    );
    expect(await openError(patchFooter(dynamic, 0, (v) => v.setBigUint64(FOOTER.dataOffset, 2n ** 64n - 1n)))).toBe(
      'Error reading dynamic VHD header',
    );
    const huge = patchFooter(dynamic, 0, (v) => {
      v.setBigUint64(FOOTER.currentSize, 2n ** 62n);
      v.setUint32(FOOTER.creatorApp, 0x77696e20); // "win "
    });
    expect(await openError(huge)).toBe('File too large');
  });

  it('refuses a fixed footer whose type is not fixed', async () => {
    const fixed = await created(1 * MiB, { subformat: 'fixed' });
    expect(await openError(patchFooter(fixed, fixed.length - 512, (v) => v.setUint32(FOOTER.diskType, 3)))).toBe(
      'invalid VPC image',
    );
  });
});

describe('vpc writes', () => {
  it('allocates a block on write: bitmap, data and zeros, footer after it, BAT entry last', async () => {
    const source = new MemorySource(await created(4 * MiB));
    const device = await registry.open(source, { format: 'vpc', writable: true });
    await device.write(2 * MiB + 4096, new Uint8Array(1000).fill(0xab));
    const bat = new DataView(source.bytes.buffer, source.bytes.byteOffset + 1536);
    // 4 MiB rounds up to 8 CHS... blocks: the first new block goes where the footer was (2048).
    expect(bat.getUint32(4)).toBe(2048 / 512);
    expect(bat.getUint32(0)).toBe(0xffffffff);
    expect(source.size).toBe(2048 + 512 + 2 * MiB + 512);
    expect(Array.from(source.bytes.subarray(2048, 2048 + 512)).every((b) => b === 0xff)).toBe(true);
    expect(Buffer.from(source.bytes.subarray(-512)).equals(Buffer.from(source.bytes.subarray(0, 512)))).toBe(true);
    const back = await device.read(2 * MiB, 8192);
    expect(back.subarray(4096, 5096).every((b) => b === 0xab)).toBe(true);
    expect(back.subarray(0, 4096).every((b) => b === 0)).toBe(true);
    expect(back.subarray(5096).every((b) => b === 0)).toBe(true);
    await device.close();
  });

  it('is crash safe: every power-loss state opens and reads flushed or later data (dynamic)', async () => {
    const result = await checkCrashSafety({ driver, virtualSize: 5 * MiB, operations: 20, maxSectors: 64, seed: 3 });
    expect(result.states).toBeGreaterThan(50);
  }, 60_000);

  it('is crash safe with several blocks per write', async () => {
    const result = await checkCrashSafety({ driver, virtualSize: 6 * MiB, operations: 10, maxSectors: 5000, seed: 9 });
    expect(result.states).toBeGreaterThan(20);
  }, 60_000);

  it('writes a fixed image in place, and refuses one whose data area is smaller than its size', async () => {
    const bytes = await created(1 * MiB, { subformat: 'fixed', force_size: 'on' });
    const source = new MemorySource(bytes);
    const device = await registry.open(source, { format: 'vpc', writable: true });
    await device.write(512, new Uint8Array(512).fill(7));
    expect(source.bytes[512]).toBe(7);
    expect(source.size).toBe(MiB + 512);
    await device.close();
    const short = patchFooter(bytes, bytes.length - 512, (v) => v.setBigUint64(FOOTER.currentSize, 2n * BigInt(MiB)));
    await expect(registry.open(new MemorySource(short), { format: 'vpc', writable: true })).rejects.toThrow(
      'Cannot write this fixed VHD',
    );
  });

  it('refuses unknown creation options and subformats', async () => {
    await expect(createImage(new MemorySource(), { virtualSize: MiB, options: { x: '1' } })).rejects.toThrow(
      "Invalid parameter 'x'",
    );
    await expect(
      createImage(new MemorySource(), { virtualSize: MiB, options: { subformat: 'differencing' } }),
    ).rejects.toThrow("Invalid subformat 'differencing'");
  });
});
