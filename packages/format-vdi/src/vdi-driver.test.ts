import { checkCrashSafety } from '@vdisk/conformance';
import { MemorySource, Registry, VdiskError } from '@vdisk/core';
import { describe, expect, it } from 'vitest';
import { createImage } from './create-image.js';
import { FIELD } from './header.js';
import { VdiDriver } from './vdi-driver.js';

const driver = new VdiDriver();
const registry = new Registry([driver]);
const MiB = 1024 * 1024;

async function created(size: number, options: Record<string, string> = {}): Promise<Uint8Array> {
  const target = new MemorySource();
  await createImage(target, { virtualSize: size, options });
  return target.bytes.slice();
}

function patched(bytes: Uint8Array, patch: (view: DataView) => void): Uint8Array {
  const copy = bytes.slice();
  patch(new DataView(copy.buffer));
  return copy;
}

async function openError(bytes: Uint8Array, writable = false): Promise<string> {
  try {
    const device = await registry.open(new MemorySource(bytes), { format: 'vdi', writable });
    await device.close();
  } catch (error) {
    expect(error).toBeInstanceOf(VdiskError);
    return (error as Error).message;
  }
  throw new Error('opened');
}

async function checkOf(bytes: Uint8Array) {
  const device = await registry.open(new MemorySource(bytes), { format: 'vdi' });
  try {
    return await device.check();
  } finally {
    await device.close();
  }
}

describe("vdi open: QEMU's checks in QEMU's order", () => {
  it('refuses what QEMU refuses, with its words', async () => {
    const base = await created(10 * MiB);
    const cases: [(v: DataView) => void, string][] = [
      [(v) => v.setUint32(FIELD.signature, 0xbeda107e, true), 'Image not in VDI format (bad signature beda107e)'],
      [(v) => v.setUint32(FIELD.version, 0x00010002, true), 'unsupported VDI image (version 1.2)'],
      [(v) => v.setUint32(FIELD.offsetBmap, 0x201, true), 'unsupported VDI image (unaligned block map offset 0x201)'],
      [(v) => v.setUint32(FIELD.offsetData, 0x401, true), 'unsupported VDI image (unaligned data offset 0x401)'],
      [(v) => v.setUint32(FIELD.sectorSize, 4096, true), 'unsupported VDI image (sector size 4096 is not 512)'],
      [(v) => v.setUint32(FIELD.blockSize, 2 * MiB, true), 'unsupported VDI image (block size 2097152 is not 1048576)'],
      [
        (v) => v.setUint32(FIELD.blocksInImage, 5, true),
        'unsupported VDI image (disk size 10485760, image bitmap has room for 5242880)',
      ],
      [(v) => v.setUint8(FIELD.uuidLink, 1), 'unsupported VDI image (non-NULL link UUID)'],
      [(v) => v.setUint8(FIELD.uuidParent, 1), 'unsupported VDI image (non-NULL parent UUID)'],
      [
        (v) => v.setUint32(FIELD.blocksInImage, 0x40000000, true),
        'unsupported VDI image (too many blocks 1073741824, max is 536870784)',
      ],
      [
        (v) => v.setBigUint64(FIELD.diskSize, 2n ** 60n, true),
        'Unsupported VDI image size (size is 0x1000000000000000, max supported is 0x1fffff8000000)',
      ],
    ];
    for (const [patch, message] of cases) expect(await openError(patched(base, patch))).toBe(message);
  });

  it('rounds an odd disk size up to a sector, as QEMU does', async () => {
    const odd = patched(await created(10 * MiB), (v) => v.setBigUint64(FIELD.diskSize, BigInt(10 * MiB - 100), true));
    const device = await registry.open(new MemorySource(odd), { format: 'vdi' });
    expect(device.virtualSize).toBe(10 * MiB);
    await device.close();
  });

  it('reads a block map past the end of the file as entries of 0, and holds none of it', async () => {
    // 0x1fffff80 blocks claimed, map at 1 GiB: nothing of it is in the 1024-byte file.
    const hostile = patched(await created(MiB), (v) => {
      v.setUint32(FIELD.blocksInImage, 0x1fffff80, true);
      v.setBigUint64(FIELD.diskSize, BigInt(0x1fffff80) * BigInt(MiB), true);
      v.setUint32(FIELD.offsetBmap, 0x40000000, true);
      v.setUint32(FIELD.blocksAllocated, 1, true);
    });
    const device = await registry.open(new MemorySource(hostile), { format: 'vdi' });
    expect(device.virtualSize).toBe(0x1fffff80 * MiB);
    // Every block is block 0 (at the data offset, past the end: zeros), as QEMU reads them.
    expect((await device.read(5 * MiB, 4096)).every((b) => b === 0)).toBe(true);
    const report = await device.check();
    expect(report.problems[0]?.message).toBe('block index 0 also used by 0');
    expect(report.problems.length + (report.omitted?.corruptions ?? 0)).toBe(0x1fffff80 - 1 + 1);
    await device.close();
    expect(await openError(hostile, true)).toBe(
      'Cannot write this VDI image: its block map is cut short by the end of the file',
    );
  });
});

describe("vdi check: QEMU's three messages", () => {
  it('finds an index used twice, an index too large, and a count mismatch', async () => {
    const bytes = patched(await created(10 * MiB, { static: 'on' }), (v) => {
      v.setUint32(512 + 4 * 5, 2, true);
      v.setUint32(512 + 4 * 7, 20, true);
    });
    const report = await checkOf(bytes);
    expect(report.problems.map((p) => [p.kind, p.message])).toEqual([
      ['corruption', 'block index 2 also used by 2'],
      ['corruption', 'block index 7 too large, is 20'],
      ['leak', 'allocated blocks mismatch, is 9, should be 10'],
    ]);
  });

  it('calls a header that counts more blocks than the map uses a leak, and the reverse corruption', async () => {
    const base = await created(10 * MiB, { static: 'on' });
    expect((await checkOf(patched(base, (v) => v.setUint32(FIELD.blocksAllocated, 12, true)))).problems).toEqual([
      { kind: 'leak', message: 'allocated blocks mismatch, is 10, should be 12' },
    ]);
    const fewer = patched(base, (v) => v.setUint32(FIELD.blocksAllocated, 9, true));
    expect((await checkOf(fewer)).problems).toEqual([
      { kind: 'corruption', extent: 9, message: 'block index 9 too large, is 9' },
    ]);
    expect(await openError(fewer, true)).toBe('Cannot write this VDI image: block index 9 too large, is 9 (run check)');
    // Two entries share block 0 and the header counts one fewer than the map uses.
    const shared = patched(base, (v) => {
      v.setUint32(512 + 4 * 9, 0, true);
      v.setUint32(FIELD.blocksAllocated, 9, true);
    });
    expect((await checkOf(shared)).problems).toEqual([
      { kind: 'corruption', extent: 9, message: 'block index 0 also used by 0' },
      { kind: 'corruption', message: 'allocated blocks mismatch, is 10, should be 9' },
    ]);
  });

  it('finds nothing wrong in new images', async () => {
    expect((await checkOf(await created(3 * MiB))).problems).toEqual([]);
    expect((await checkOf(await created(3 * MiB, { static: 'on' }))).problems).toEqual([]);
  });
});

describe('vdi writes', () => {
  it('allocates blocks in order at the end: data whole, then header count, then map entry', async () => {
    const source = new MemorySource(await created(4 * MiB));
    const device = await registry.open(source, { format: 'vdi', writable: true });
    await device.write(3 * MiB + 512, new Uint8Array(512).fill(9));
    await device.write(1 * MiB, new Uint8Array(512).fill(8));
    const view = new DataView(source.bytes.buffer, source.bytes.byteOffset);
    expect(view.getUint32(FIELD.blocksAllocated, true)).toBe(2);
    expect(view.getUint32(512 + 3 * 4, true)).toBe(0);
    expect(view.getUint32(512 + 1 * 4, true)).toBe(1);
    expect(source.size).toBe(1024 + 2 * MiB);
    expect((await device.read(3 * MiB, 1024))[512]).toBe(9);
    expect((await device.check()).problems).toEqual([]);
    await device.close();
  });

  it('is crash safe: every power-loss state opens, checks clean but for leaks, and reads flushed or later data', async () => {
    const result = await checkCrashSafety({ driver, virtualSize: 3 * MiB, operations: 20, maxSectors: 64, seed: 5 });
    expect(result.states).toBeGreaterThan(50);
  }, 60_000);

  it('is crash safe with several blocks per write', async () => {
    const result = await checkCrashSafety({ driver, virtualSize: 4 * MiB, operations: 10, maxSectors: 3000, seed: 2 });
    expect(result.states).toBeGreaterThan(20);
  }, 60_000);

  it('writes a static image in place', async () => {
    const source = new MemorySource(await created(2 * MiB, { static: 'on' }));
    const size = source.size;
    const device = await registry.open(source, { format: 'vdi', writable: true });
    await device.write(MiB, new Uint8Array(512).fill(3));
    expect(source.size).toBe(size);
    expect(source.bytes[1024 + MiB]).toBe(3);
    await device.close();
  });

  it('refuses unknown creation options, and sizes QEMU cannot describe', async () => {
    await expect(createImage(new MemorySource(), { virtualSize: MiB, options: { x: '1' } })).rejects.toThrow(
      "Invalid parameter 'x'",
    );
    await expect(createImage(new MemorySource(), { virtualSize: 2 ** 52, options: {} })).rejects.toThrow(
      'Unsupported VDI image size',
    );
  });
});
