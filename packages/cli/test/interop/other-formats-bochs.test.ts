/**
 * Bochs 2.7 itself against the VHD, VMDK and VDI images vdisk makes (Bochs's `vpc`,
 * `vmware4` and `vbox` modes): a guest reads with INT 13h what vdisk wrote, sector for
 * sector, and vdisk (and qemu-img) read what a guest wrote through Bochs.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { FileSource, openFile } from '@vdisk/core/node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultRegistry } from '../../src/default-registry.js';
import {
  type BochsDiskMode,
  bochsReadSectors,
  bochsWriteSectors,
  describeEmulator,
  guestSector,
  type SectorRange,
} from './bochs-emulator.js';
import { makeScratchDir, qemuImg, removeScratchDir } from './peers.js';

const SECTOR = 512;
const SIZE = 20 * 16 * 63 * SECTOR; // bximage's 10M
const FORMATS: { format: 'vpc' | 'vmdk' | 'vdi'; mode: BochsDiskMode; options: Record<string, string> }[] = [
  { format: 'vpc', mode: 'vpc', options: {} },
  { format: 'vmdk', mode: 'vmware4', options: {} },
  { format: 'vdi', mode: 'vbox', options: {} },
];

/** Distinct bytes for sector `lba` of vdisk's writes (not the guest's pattern). */
function vdiskSector(lba: number): Uint8Array {
  const sector = new Uint8Array(SECTOR);
  for (let j = 0; j < SECTOR; j++) sector[j] = (lba * 13 + j * 5 + 1) & 0xff || 0x5a;
  return sector;
}

async function create(path: string, format: string, options: Record<string, string>): Promise<void> {
  const target = await FileSource.create(path);
  try {
    await defaultRegistry().create(format, target, { virtualSize: SIZE, options, filename: path });
  } finally {
    await target.close();
  }
}

describeEmulator('Bochs 2.7 reads and writes the VHD, VMDK and VDI images vdisk makes', () => {
  let dir = '';
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  for (const { format, mode, options } of FORMATS) {
    describe(`${format} (Bochs mode ${mode})`, () => {
      it('a guest reads exactly what vdisk wrote, and zeros where it wrote nothing', async () => {
        const path = join(dir, `vdisk-wrote.${format}`);
        await create(path, format, options);
        const written: SectorRange[] = [
          { lba: 0, count: 3 },
          { lba: 127, count: 2 }, // across a VMDK grain boundary
          { lba: 4095, count: 2 }, // across a VHD block (and a VDI block at 2047/2048)
          { lba: 2047, count: 2 },
        ];
        const device = await openFile(defaultRegistry(), path, { format, writable: true });
        const virtualSize = device.virtualSize;
        const last = Math.floor(SIZE / SECTOR) - 1;
        written.push({ lba: last, count: 1 });
        for (const { lba, count } of written) {
          for (let s = 0; s < count; s++) await device.write((lba + s) * SECTOR, vdiskSector(lba + s));
        }
        await device.flush();
        await device.close();
        expect(virtualSize).toBeGreaterThanOrEqual(SIZE);

        const ranges: SectorRange[] = [...written, { lba: 10, count: 2 }, { lba: 3000, count: 1 }];
        const read = await bochsReadSectors({ path, mode }, ranges);
        ranges.forEach(({ lba, count }, i) => {
          for (let s = 0; s < count; s++) {
            const got = (read[i] as Uint8Array).subarray(s * SECTOR, (s + 1) * SECTOR);
            const isWritten = written.some((w) => lba + s >= w.lba && lba + s < w.lba + w.count);
            const want = isWritten ? vdiskSector(lba + s) : new Uint8Array(SECTOR);
            expect(Buffer.from(got).equals(Buffer.from(want)), `LBA ${lba + s}`).toBe(true);
          }
        });
      }, 120_000);

      it('vdisk and qemu-img read what a guest wrote through Bochs', async () => {
        const path = join(dir, `bochs-wrote.${format}`);
        await create(path, format, options);
        const ranges: SectorRange[] = [
          { lba: 1, count: 2 },
          { lba: 126, count: 4 },
          { lba: 5000, count: 1 },
        ];
        await bochsWriteSectors({ path, mode }, ranges);
        const device = await openFile(defaultRegistry(), path, { format });
        let disk: Uint8Array;
        try {
          disk = await device.read(0, device.virtualSize);
          if (device.canCheck) expect((await device.check()).problems).toEqual([]);
          for (const { lba, count } of ranges) {
            for (let s = 0; s < count; s++) {
              const got = await device.read((lba + s) * SECTOR, SECTOR);
              expect(Buffer.from(got).equals(Buffer.from(guestSector(lba + s))), `LBA ${lba + s}`).toBe(true);
            }
          }
          expect((await device.read(3 * SECTOR, SECTOR)).every((b) => b === 0)).toBe(true);
        } finally {
          await device.close();
        }
        const back = join(dir, `bochs-wrote.${format}.raw`);
        expect((await qemuImg('convert', '-f', format, '-O', 'raw', path, back)).code).toBe(0);
        expect(Buffer.from(await readFile(back)).equals(Buffer.from(disk))).toBe(true);
      }, 120_000);
    });
  }
});
