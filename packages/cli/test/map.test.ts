import { mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildBochsImage } from '@vdisk/format-bochs/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { assertBuilt, runVdisk } from './vdisk-process.js';

let dir: string;
beforeAll(async () => {
  assertBuilt();
  dir = await mkdtemp(join(tmpdir(), 'vdisk-map-'));
});
afterAll(() => rm(dir, { recursive: true, force: true }));

const sectors = (count: number, byte: number) => new Uint8Array(count * 512).fill(byte);

// 1 MiB-ish disk, 4 KiB extents of 8 sectors, a 512-byte bitmap block: a slot is 4608
// bytes, slot k's data at 512 + 4*512 + 4608k + 512 = 3072 + 4608k (FORMAT.md §3).
const DISK = 1032192;
const slotData = (k: number) => 3072 + 4608 * k;
const image = () =>
  buildBochsImage({
    diskSize: DISK,
    writes: [
      { offset: 4096 * 2 + 1024, data: sectors(3, 1) }, // extent 2, sectors 2-4: slot 0
      { offset: 4096 * 3, data: sectors(8, 2) }, // extent 3, whole: slot 1
      { offset: 4096 * 10 + 512 * 7, data: sectors(1, 3) }, // extent 10, sector 7: slot 2
    ],
  });

describe('vdisk map', () => {
  it("prints qemu-img map's JSON: runs covering the disk, merged, data at its file offset", async () => {
    const file = join(dir, 'holes.bochs');
    await writeFile(file, image());
    const result = await runVdisk(['map', '--output=json', file]);
    expect(result.stderr).toBe('');
    expect(result.code).toBe(0);
    const hole = (start: number, length: number) => ({
      start,
      length,
      depth: 0,
      // Bochs growing images have no parent: a hole is present and zero, as qemu-img prints VDI and VHD holes.
      present: true,
      zero: true,
      data: false,
    });
    const data = (start: number, length: number, offset: number) => ({
      start,
      length,
      depth: 0,
      present: true,
      zero: false,
      data: true,
      offset,
    });
    expect(JSON.parse(result.stdout)).toEqual([
      hole(0, 9216),
      data(9216, 1536, slotData(0) + 1024),
      hole(10752, 1536),
      // Extent 3 is whole, but in another slot: not contiguous in the file, so a new run.
      data(12288, 4096, slotData(1)),
      hole(16384, 28160),
      data(44544, 512, slotData(2) + 3584),
      hole(45056, DISK - 45056),
    ]);
    // qemu-img's own layout, to the character: one entry per line.
    expect(result.stdout.split('\n')[1]).toBe(
      `{ "start": 9216, "length": 1536, "depth": 0, "present": true, "zero": false, "data": true, "offset": ${slotData(0) + 1024}},`,
    );
    expect(result.stdout.endsWith('}]\n')).toBe(true);
  });

  it("prints qemu-img map's table of the data runs", async () => {
    const file = join(dir, 'table.bochs');
    await writeFile(file, image());
    const result = await runVdisk(['map', file]);
    expect(result.code).toBe(0);
    const row = (...cells: string[]) => `${cells.map((c) => c.padEnd(16)).join('')}${file}`;
    expect(result.stdout.split('\n')).toEqual([
      'Offset          Length          Mapped to       File',
      row('0x2400', '0x600', `0x${(slotData(0) + 1024).toString(16)}`),
      row('0x3000', '0x1000', `0x${slotData(1).toString(16)}`),
      row('0xae00', '0x200', `0x${(slotData(2) + 3584).toString(16)}`),
      '',
    ]);
  });

  it('merges runs across the windows it queries in: a 300 MiB raw file is one run', async () => {
    const file = join(dir, 'big.raw');
    await writeFile(file, '');
    await truncate(file, 300 * 1024 * 1024);
    const result = await runVdisk(['map', '-f', 'raw', '--output=json', file]);
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual([
      { start: 0, length: 300 * 1024 * 1024, depth: 0, present: true, zero: false, data: true, offset: 0 },
    ]);
  });

  it('maps a raw window at its offset in the file', async () => {
    const file = join(dir, 'window.raw');
    await writeFile(file, new Uint8Array(8192));
    const result = await runVdisk(['map', '-f', 'raw', '-o', 'offset=1000,size=4096', '--output=json', file]);
    expect(JSON.parse(result.stdout)).toEqual([
      { start: 0, length: 4096, depth: 0, present: true, zero: false, data: true, offset: 1000 },
    ]);
  });

  it('prints an empty array for an empty disk', async () => {
    const file = join(dir, 'empty.raw');
    await writeFile(file, '');
    const result = await runVdisk(['map', '--output=json', file]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe('[]\n');
  });

  it('fails with one error line and exit 1 for a missing file', async () => {
    const file = join(dir, 'missing.img');
    const result = await runVdisk(['map', file]);
    expect(result.code).toBe(1);
    expect(result.stderr).toBe(`vdisk: ${file}: No such file or directory\n`);
    expect(result.stdout).toBe('');
  });
});
