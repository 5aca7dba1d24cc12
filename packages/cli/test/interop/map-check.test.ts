/**
 * vdisk map and check against images bximage made: the map must be the allocation the
 * catalog and bitmaps hold (parsed here from the spec, not by the driver), its holes must
 * really read as zeros, and check must find nothing wrong in any of them. convert must
 * match qemu-img convert byte for byte while allocating no more than it.
 */
import { mkdtempSync } from 'node:fs';
import { readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from '../vdisk-process.js';
import { bochsAllocation, type MapEntry } from './bochs-allocation.js';
import { bximageConvert, bximageCreate, describeInterop, qemuImg, qemuImgConvertToRaw } from './peers.js';

const dir = mkdtempSync(join(tmpdir(), 'vdisk-map-check-'));
beforeAll(() => assertBuilt());
afterAll(() => rm(dir, { recursive: true, force: true }));

/**
 * A raw disk of `sectors` sectors where each 512-byte sector is zero or not by `pattern`
 * (cycled), the nonzero ones filled from `seed`: bximage leaves the zero sectors unwritten.
 */
function rawDisk(sectors: number, pattern: boolean[], seed: number): Uint8Array {
  const bytes = new Uint8Array(sectors * 512);
  for (let s = 0; s < sectors; s++) {
    if (!pattern[s % pattern.length]) continue;
    for (let i = 0; i < 512; i++) bytes[s * 512 + i] = ((s * 131 + i * 7 + seed) % 255) + 1;
  }
  return bytes;
}

async function map(file: string): Promise<MapEntry[]> {
  const result = await runVdisk(['map', '--output=json', file]);
  expect(result.stderr).toBe('');
  expect(result.code).toBe(0);
  return JSON.parse(result.stdout);
}

/** The disk rebuilt from the data runs of `entries` only, read from `disk`; zeros elsewhere. */
function fromDataRuns(entries: MapEntry[], disk: Uint8Array): Uint8Array {
  const rebuilt = new Uint8Array(disk.length);
  for (const e of entries) if (e.data) rebuilt.set(disk.subarray(e.start, e.start + e.length), e.start);
  return rebuilt;
}

interface Case {
  name: string;
  /** Makes the image at `path`; for a converted one, returns the raw disk (also left at `path.raw`). */
  make: (path: string) => Promise<Uint8Array | undefined>;
  converted?: boolean;
}

const converted = (sectors: number, pattern: boolean[], seed: number) => async (path: string) => {
  const disk = rawDisk(sectors, pattern, seed);
  const raw = `${path}.raw`;
  await writeFile(raw, disk);
  await bximageConvert(raw, path);
  return disk;
};

const CASES: Case[] = [
  { name: 'bximage create 10M (empty)', make: async (path) => void (await bximageCreate(path, '10M')) },
  { name: 'bximage create 1G (empty)', make: async (path) => void (await bximageCreate(path, '1G')) },
  {
    name: 'convert of 64 KiB, sectors 10-29 zero',
    converted: true,
    make: converted(128, [...Array(10).fill(true), ...Array(20).fill(false), ...Array(98).fill(true)], 1),
  },
  { name: 'convert of 3 MiB, every third sector', converted: true, make: converted(6144, [true, false, false], 2) },
  {
    name: 'convert of 12 MiB, data islands',
    converted: true,
    make: converted(24576, [...Array(100).fill(false), ...Array(37).fill(true), ...Array(900).fill(false)], 3),
  },
];

describeInterop('map and check on bximage images', () => {
  for (const { name, make, converted: isConverted } of CASES) {
    describe(name, () => {
      const path = join(dir, `${name.replace(/[^a-z0-9]+/gi, '-')}.img`);
      let disk: Uint8Array | undefined;
      beforeAll(async () => {
        disk = await make(path);
      });

      it('map is the allocation in the catalog and bitmaps', async () => {
        const entries = await map(path);
        expect(entries).toEqual(bochsAllocation(await readFile(path)));
        // Covering the whole disk, in order.
        const size = Number((await readFile(path)).readBigUInt64LE(0x58));
        let at = 0;
        for (const e of entries) {
          expect(e.start).toBe(at);
          at += e.length;
        }
        expect(at).toBe(Math.floor(size / 512) * 512);
      });

      it('reading only what map calls data, and zeros elsewhere, gives the disk back', async () => {
        const entries = await map(path);
        if (disk) expect(Buffer.compare(fromDataRuns(entries, disk), disk)).toBe(0);
        else expect(entries.every((e) => !e.data)).toBe(true);
      });

      it('check finds no errors', async () => {
        const result = await runVdisk(['check', path]);
        expect(result).toMatchObject({ code: 0, stdout: 'No errors were found on the image.\n', stderr: '' });
      });

      if (isConverted) {
        it('compare says the image and its raw source are identical', async () => {
          const result = await runVdisk(['compare', path, `${path}.raw`]);
          expect(result).toMatchObject({ code: 0, stdout: 'Images are identical.\n' });
        });
      }
    });
  }

  it('map of any disk bximage converts: data runs match the bitmaps and the holes read as zeros (property)', async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4096 }),
        fc.array(fc.boolean(), { minLength: 1, maxLength: 40 }),
        fc.integer({ min: 0, max: 250 }),
        async (sectors, pattern, seed) => {
          const path = join(dir, `property-${run++}.img`);
          const disk = await converted(sectors, pattern, seed)(path);
          const entries = await map(path);
          expect(entries).toEqual(bochsAllocation(await readFile(path)));
          expect(Buffer.compare(fromDataRuns(entries, disk), disk)).toBe(0);
          expect((await runVdisk(['check', path])).code).toBe(0);
          await rm(path);
          await rm(`${path}.raw`);
        },
      ),
      { numRuns: 12, seed: 20261125 },
    );
  });

  it('compare agrees with qemu-img compare, to the byte where qemu-img names the sector', async () => {
    const path = join(dir, 'compare-source.img');
    const disk = await converted(8192, [...Array(50).fill(true), ...Array(150).fill(false)], 4)(path);
    const changed = join(dir, 'compare-changed.raw');
    for (const offset of [3 * 512 + 17, 120 * 512 + 5, 8191 * 512 + 511]) {
      const copy = disk.slice();
      copy[offset] = (copy[offset] ?? 0) ^ 0xff;
      await writeFile(changed, copy);
      const ours = await runVdisk(['compare', path, changed]);
      expect(ours).toMatchObject({ code: 1, stdout: `Content mismatch at offset ${offset}!\n` });
      const qemu = await qemuImg('compare', '-f', 'bochs', '-F', 'raw', path, changed);
      expect(qemu.code).toBe(1);
      expect(qemu.stdout).toBe(`Content mismatch at offset ${offset - (offset % 512)}!\n`);
    }
  });

  it('convert -O raw is byte-identical to qemu-img convert, and no less sparse', async () => {
    const path = join(dir, 'convert-source.img');
    const disk = await converted(
      32768,
      [...Array(7).fill(true), ...Array(300).fill(false), true, ...Array(2000).fill(false)],
      9,
    )(path);
    const ours = join(dir, 'ours.raw');
    const theirs = join(dir, 'theirs.raw');
    const result = await runVdisk(['convert', '-O', 'raw', path, ours]);
    expect(result).toMatchObject({ code: 0, stderr: '' });
    await rm(theirs, { force: true });
    await qemuImgConvertToRaw(path, theirs);
    const [a, b] = await Promise.all([readFile(ours), readFile(theirs)]);
    expect(a.length).toBe(b.length);
    expect(Buffer.compare(a, b)).toBe(0);
    expect(Buffer.compare(a, disk)).toBe(0);
    // Sparse: the 4 KiB file-system blocks that hold nonzero bytes are allocated, and
    // little more (the file system's extent tree for a file of many pieces).
    let dataBlocks = 0;
    for (let at = 0; at < disk.length; at += 4096) {
      if (disk.subarray(at, at + 4096).some((byte) => byte !== 0)) dataBlocks++;
    }
    const [sa, sb] = await Promise.all([stat(ours), stat(theirs)]);
    expect(sa.blocks * 512).toBeGreaterThanOrEqual(dataBlocks * 4096);
    expect(sa.blocks * 512).toBeLessThanOrEqual(dataBlocks * 4096 + 16 * 1024);
    // As sparse as qemu-img's output: the same data blocks (SEEK_DATA shows identical maps
    // here); the extent tree's own blocks can differ by one with the order of the writes.
    expect(sa.blocks * 512).toBeLessThanOrEqual(sb.blocks * 512 + 4096);
  });
});
