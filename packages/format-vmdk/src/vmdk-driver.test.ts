import { checkCrashSafety } from '@vdisk/conformance';
import { MemorySource, Registry, VdiskError } from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import { createImage, descriptorFor } from './create-image.js';
import { FIELD, readCid } from './header.js';
import { VmdkDriver } from './vmdk-driver.js';

const driver = new VmdkDriver();
const registry = new Registry([driver]);
const MiB = 1024 * 1024;

async function created(size: number, options: Record<string, string> = {}): Promise<Uint8Array> {
  const target = new MemorySource();
  await createImage(target, { virtualSize: size, options, filename: '/some/dir/disk.vmdk' });
  return target.bytes.slice();
}

function patched(bytes: Uint8Array, patch: (view: DataView, bytes: Uint8Array) => void): Uint8Array {
  const copy = bytes.slice();
  patch(new DataView(copy.buffer), copy);
  return copy;
}

async function openError(bytes: Uint8Array, writable = false): Promise<string> {
  try {
    const device = await registry.open(new MemorySource(bytes), { format: 'vmdk', writable });
    await device.close();
  } catch (error) {
    expect(error).toBeInstanceOf(VdiskError);
    return (error as Error).message;
  }
  throw new Error('opened');
}

const text = (s: string) => new TextEncoder().encode(s);

describe('vmdk probe', () => {
  it('scores KDMV, COWD and text descriptors 100 (vmdk_probe), other bytes 0', () => {
    const sector = new Uint8Array(512);
    sector.set(text('KDMV'));
    expect(driver.probe(sector)).toBe(100);
    sector.set(text('COWD'));
    expect(driver.probe(sector)).toBe(100);
    expect(driver.probe(text('# Disk DescriptorFile\n  \r\nversion=1\nCID=1\n'))).toBe(100);
    expect(driver.probe(text('# comment\nversion=4\n'))).toBe(0);
    expect(driver.probe(text('  x\nversion=1\n'))).toBe(0);
    expect(driver.probe(new Uint8Array(512))).toBe(0);
  });
});

describe("vmdk open: QEMU's checks and messages", () => {
  it('refuses what QEMU refuses', async () => {
    const base = await created(10 * MiB);
    const cases: [(v: DataView) => void, string][] = [
      [(v) => v.setUint32(FIELD.version, 4, true), 'Unsupported VMDK version 4'],
      [(v) => v.setUint32(FIELD.gtesPerGt, 1024, true), 'L2 table size too big'],
      [(v) => v.setUint32(FIELD.gtesPerGt, 0, true), 'L1 entry size is invalid'],
      [(v) => v.setBigUint64(FIELD.granularity, 0n, true), 'L1 entry size is invalid'],
      // 2^32 sectors per grain times 512 entries is 0 in QEMU's 32 bits.
      [(v) => v.setBigUint64(FIELD.granularity, 2n ** 32n, true), 'L1 entry size is invalid'],
      [(v) => v.setBigUint64(FIELD.granularity, 0x200001n, true), 'Invalid granularity, image may be corrupt'],
      [(v) => v.setBigUint64(FIELD.grainOffset, 1000n, true), 'File truncated, expecting at least 512000 bytes'],
      [(v) => v.setBigUint64(FIELD.capacity, 2n ** 45n, true), 'L1 size too big'],
      [(v) => v.setBigUint64(FIELD.capacity, 0n, true), "Unsupported image type 'monolithicSparse'"],
      [
        (v) => v.setBigUint64(FIELD.gdOffset, 2n ** 64n - 1n, true),
        "Unsupported VMDK create type 'streamOptimized': vdisk reads only monolithicSparse",
      ],
      [
        (v) => v.setUint16(FIELD.compressAlgorithm, 1, true),
        "Unsupported VMDK create type 'streamOptimized' (compressed grains): vdisk reads only monolithicSparse",
      ],
    ];
    for (const [patch, message] of cases) expect(await openError(patched(base, patch))).toBe(message);
    expect(
      await openError(
        patched(base, (v) => v.setUint32(FIELD.version, 3, true)),
        true,
      ),
    ).toBe('VMDK version 3 must be read only');
  });

  it('names the create types it does not read', async () => {
    const descriptor = '# Disk DescriptorFile\nversion=1\nCID=1\ncreateType="twoGbMaxExtentSparse"\n';
    const bytes = new Uint8Array(1024);
    bytes.set(text(descriptor));
    expect(await openError(bytes)).toBe(
      "Unsupported VMDK create type 'twoGbMaxExtentSparse': vdisk reads only monolithicSparse",
    );
    const cowd = new Uint8Array(1024);
    cowd.set(text('COWD'));
    expect(await openError(cowd)).toContain('(COWD) are not supported');
  });

  it('fails as QEMU does without a CID in the descriptor, and names its parent for core to open', async () => {
    const base = await created(MiB);
    expect(await openError(patched(base, (_v, b) => b.fill(0, 512, 512 * 21)))).toBe('Invalid argument');
    const withParent = patched(base, (_v, b) => {
      b.fill(0, 512, 512 * 21);
      b.set(text('parentFileNameHint="base.vmdk"\nCID=1\nparentCID=2\n'), 512);
    });
    // Read through core's backing chain (the interop tests compare it with qemu-img); never written.
    expect(await openError(withParent, true)).toBe(
      "Cannot write a VMDK image over a parent ('base.vmdk'): vdisk reads it only",
    );
    const image = await driver.open(new MemorySource(withParent), { writable: false, options: {} });
    expect(image.backing).toEqual({ filename: 'base.vmdk', format: 'vmdk' });
  });

  it('reads the CID as vmdk_read_cid does: the first "CID" anywhere, sscanf %x', () => {
    expect(readCid('CID=875eb2ba\nparentCID=ffffffff\n', false)).toBe(0x875eb2ba);
    expect(readCid('CID=875eb2ba\nparentCID=ffffffff\n', true)).toBe(0xffffffff);
    // strstr finds the "CID" inside "parentCID" first.
    expect(readCid('# x\nparentCID=ab\nCID=  0x1f2z\n', false)).toBe(0xab);
    expect(readCid('CID=zz', false)).toBeUndefined();
  });

  it('holds only the grain directory in the file: a 16 Mi-entry directory past the end costs nothing', async () => {
    const hostile = patched(await created(MiB), (v) => {
      v.setBigUint64(FIELD.capacity, 2n ** 40n, true);
      v.setBigUint64(FIELD.gdOffset, 2n ** 40n, true);
    });
    const device = await registry.open(new MemorySource(hostile), { format: 'vmdk' });
    expect(device.virtualSize).toBe(2 ** 49);
    expect((await device.read(2 ** 48, 4096)).every((b) => b === 0)).toBe(true);
    expect(await device.blockStatus(0, 2 ** 49)).toEqual([{ offset: 0, length: 2 ** 49, data: false }]);
    await device.close();
    expect(await openError(hostile, true)).toBe(
      'Cannot write this VMDK image: its grain directory is cut short by the end of the file',
    );
  });
});

describe('vmdk create', () => {
  it("writes qemu-img's descriptor, naming the file's last component", async () => {
    const bytes = await created(10 * MiB);
    const descriptor = new TextDecoder().decode(bytes.subarray(512, 512 * 21)).replace(/\0+$/, '');
    expect(descriptor.replace(/CID=[0-9a-f]+\n/, 'CID=x\n')).toBe(
      descriptorFor(20480, 'disk.vmdk', 0, 'ide').replace(/CID=[0-9a-f]+\n/, 'CID=x\n'),
    );
    expect(descriptor).toContain('RW 20480 SPARSE "disk.vmdk"\n');
    expect(descriptor).toContain('ddb.geometry.cylinders = "20"\n');
  });

  it('refuses the other subformats by name, and unknown options', async () => {
    for (const subformat of ['monolithicFlat', 'twoGbMaxExtentSparse', 'twoGbMaxExtentFlat', 'streamOptimized']) {
      await expect(createImage(new MemorySource(), { virtualSize: MiB, options: { subformat } })).rejects.toThrow(
        `VMDK subformat '${subformat}' is not supported: vdisk creates only monolithicSparse`,
      );
    }
    await expect(createImage(new MemorySource(), { virtualSize: MiB, options: { x: '1' } })).rejects.toThrow(
      "Invalid parameter 'x'",
    );
  });
});

describe('vmdk writes', () => {
  it('appends a grain whole and points both tables at it', async () => {
    const source = new MemorySource(await created(2 * MiB));
    const device = await registry.open(source, { format: 'vmdk', writable: true });
    const before = source.size;
    await device.write(65536 * 3 + 1024, new Uint8Array(512).fill(5));
    expect(source.size).toBe(before + 65536);
    const view = new DataView(source.bytes.buffer, source.bytes.byteOffset);
    const gt = (gdSector: number) => view.getUint32(gdSector * 512, true) * 512;
    const gdSector = Number(view.getBigUint64(FIELD.gdOffset, true));
    const rgdSector = Number(view.getBigUint64(FIELD.rgdOffset, true));
    expect(view.getUint32(gt(gdSector) + 3 * 4, true)).toBe(before / 512);
    expect(view.getUint32(gt(rgdSector) + 3 * 4, true)).toBe(before / 512);
    expect((await device.read(65536 * 3, 2048))[1024]).toBe(5);
    expect((await device.check()).problems).toEqual([]);
    await device.close();
  });

  it('zeroes whole grains with the zeroed-grain flag: entry 1, no data', async () => {
    const source = new MemorySource(await created(MiB, { zeroed_grain: 'on' }));
    const device = await registry.open(source, { format: 'vmdk', writable: true });
    await device.write(0, new Uint8Array(65536 * 2).fill(1));
    const size = source.size;
    await device.writeZeroes(65536, 65536, { mayUnmap: true });
    expect(source.size).toBe(size);
    expect(await device.blockStatus(0, 131072)).toEqual([
      { offset: 0, length: 65536, data: true, fileOffset: size - 131072 },
      { offset: 65536, length: 65536, data: false, allocated: true },
    ]);
    expect((await device.read(65536, 65536)).every((b) => b === 0)).toBe(true);
    await device.close();
  });

  it('is crash safe: every power-loss state opens, checks clean and reads flushed or later data', async () => {
    const result = await checkCrashSafety({
      driver,
      virtualSize: MiB,
      operations: 14,
      maxSectors: 200,
      seed: 4,
      subsets: 3,
    });
    expect(result.states).toBeGreaterThan(50);
  }, 60_000);

  it('is crash safe with zeroed grains', async () => {
    const result = await checkCrashSafety({
      driver,
      virtualSize: MiB,
      createOptions: { zeroed_grain: 'on' },
      operations: 14,
      maxSectors: 300,
      seed: 8,
      subsets: 3,
    });
    expect(result.states).toBeGreaterThan(50);
  }, 60_000);
});
