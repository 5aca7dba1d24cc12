/**
 * Bochs 2.7 itself against the rest of the family: a guest writes known sectors in undoable
 * mode over a flat base and in sparse mode, and vdisk reads each result exactly (base plus
 * redolog for undoable); vdisk writes a redolog and a sparse image, and a guest reads them
 * exactly through Bochs's own image code.
 */
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BlockDevice, createRegistry } from '@vdisk/core';
import { FileSource, openFile } from '@vdisk/core/node';
import { bochsModule } from '@vdisk/format-bochs';
import { rawModule } from '@vdisk/format-raw';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  bochsReadSectors,
  bochsWriteSectors,
  describeEmulator,
  guestSector,
  type SectorRange,
} from './bochs-emulator.js';
import { seededBytes } from './disk-contents.js';
import { makeScratchDir, peerPaths, removeScratchDir, run, vdiskOk } from './peers.js';

const SECTOR = 512;
const SIZE = 10321920; // 20 cylinders of 16 * 63 sectors: bximage -hd=10M
const LAST = SIZE / SECTOR - 1;
const registry = createRegistry(rawModule, bochsModule);

/** Sectors the guests write: in one extent and page, across extents (32 sectors) and pages (64), and the last. */
const GUEST_WRITES: SectorRange[] = [
  { lba: 0, count: 2 },
  { lba: 31, count: 3 },
  { lba: 62, count: 4 },
  { lba: 1000, count: 1 },
  { lba: LAST, count: 1 },
];

/** What a disk reads as after the guest wrote GUEST_WRITES over `under`. */
function withGuestWrites(under: Uint8Array): Uint8Array {
  const disk = under.slice();
  for (const { lba, count } of GUEST_WRITES) {
    for (let i = 0; i < count; i++) disk.set(guestSector(lba + i), (lba + i) * SECTOR);
  }
  return disk;
}

async function readAll(path: string, options: Parameters<typeof openFile>[2] = {}): Promise<Uint8Array> {
  const device = await openFile(registry, path, options);
  try {
    expect((await device.check()).problems.filter((p) => p.kind === 'corruption')).toEqual([]);
    return await device.read(0, device.virtualSize);
  } finally {
    await device.close();
  }
}

async function create(path: string, format: string, options: Record<string, string> = {}): Promise<BlockDevice> {
  const target = await FileSource.create(path, { mode: 0o644 });
  try {
    await registry.create(format, target, { virtualSize: SIZE, options: {} });
  } finally {
    await target.close();
  }
  return openFile(registry, path, { format, writable: true, options });
}

describeEmulator('Bochs 2.7 and the rest of the Bochs family', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  it('undoable: vdisk reads base plus the redolog Bochs wrote, and the base is untouched', async () => {
    const base = join(dir, 'undoable.img');
    const flat = new Uint8Array(seededBytes('undoable base', SIZE));
    await writeFile(base, flat);
    await bochsWriteSectors({ path: base, mode: 'undoable', size: SIZE }, GUEST_WRITES);
    expect(Buffer.compare(await readFile(base), Buffer.from(flat))).toBe(0);
    // Bochs made `<base>.redolog` and stamped it with the base's time: vdisk's coherency check passes.
    const disk = await readAll(`${base}.redolog`, { options: { 'base-format': 'raw' } });
    expect(Buffer.compare(Buffer.from(disk), Buffer.from(withGuestWrites(flat)))).toBe(0);
  });

  it('sparse: vdisk reads exactly what a guest wrote into a bximage sparse image', async () => {
    const path = join(dir, 'guest.sparse');
    const made = await run(peerPaths.bximage as string, ['-q', '-func=create', '-hd=10M', '-imgmode=sparse', path]);
    expect(made.code).toBe(0);
    await bochsWriteSectors({ path, mode: 'sparse', size: SIZE }, GUEST_WRITES);
    const disk = await readAll(path, { format: 'bochs-sparse' });
    expect(Buffer.compare(Buffer.from(disk), Buffer.from(withGuestWrites(new Uint8Array(SIZE))))).toBe(0);
  });

  it('a redolog vdisk wrote over a flat base reads exactly in Bochs undoable mode', async () => {
    const base = join(dir, 'vdisk-undoable.img');
    const flat = new Uint8Array(seededBytes('vdisk undoable base', SIZE));
    await writeFile(base, flat);
    const before = (await stat(base)).mtimeMs;
    const log = join(dir, 'vdisk-undoable.redolog');
    // Named apart from its base (bochsrc's journal=), made by `vdisk create -b`: the base comes from -o base.
    await vdiskOk('create', '-f', 'bochs-redolog', '-b', base, '-F', 'raw', log);
    const writer = await openFile(registry, log, { writable: true, options: { base, 'base-format': 'raw' } });
    const model = flat.slice();
    for (const [lba, count] of [
      [0, 1],
      [30, 5],
      [700, 64],
      [LAST - 1, 2],
    ] as const) {
      const data = new Uint8Array(seededBytes(`redolog@${lba}`, count * SECTOR));
      model.set(data, lba * SECTOR);
      await writer.write(lba * SECTOR, data);
    }
    const odd = new Uint8Array(seededBytes('odd', 700));
    model.set(odd, 200 * SECTOR + 100);
    await writer.write(200 * SECTOR + 100, odd);
    await writer.close();
    expect((await stat(base)).mtimeMs).toBe(before); // writes never reach the base
    const ranges: SectorRange[] = [
      { lba: 0, count: 2 },
      { lba: 28, count: 9 },
      { lba: 199, count: 4 },
      { lba: 698, count: 68 },
      { lba: 5000, count: 2 },
      { lba: LAST - 2, count: 3 },
    ];
    const seen = await bochsReadSectors({ path: base, mode: 'undoable', size: SIZE, journal: log }, ranges);
    ranges.forEach(({ lba, count }, i) => {
      expect(
        Buffer.compare(
          Buffer.from(seen[i] as Uint8Array),
          Buffer.from(model.subarray(lba * SECTOR, (lba + count) * SECTOR)),
        ),
        `LBA ${lba}`,
      ).toBe(0);
    });
  });

  it('a sparse image vdisk wrote reads exactly in Bochs sparse mode', async () => {
    const path = join(dir, 'vdisk.sparse');
    const device = await create(path, 'bochs-sparse');
    const model = new Uint8Array(SIZE);
    for (const [lba, count] of [
      [0, 1],
      [63, 2], // across pages 0 and 1
      [640, 64], // one whole page
      [LAST, 1],
    ] as const) {
      const data = new Uint8Array(seededBytes(`sparse@${lba}`, count * SECTOR));
      model.set(data, lba * SECTOR);
      await device.write(lba * SECTOR, data);
    }
    await device.close();
    const ranges: SectorRange[] = [
      { lba: 0, count: 2 },
      { lba: 62, count: 4 },
      { lba: 639, count: 66 },
      { lba: 3000, count: 1 },
      { lba: LAST - 1, count: 2 },
    ];
    const seen = await bochsReadSectors({ path, mode: 'sparse', size: SIZE }, ranges);
    ranges.forEach(({ lba, count }, i) => {
      expect(
        Buffer.compare(
          Buffer.from(seen[i] as Uint8Array),
          Buffer.from(model.subarray(lba * SECTOR, (lba + count) * SECTOR)),
        ),
        `LBA ${lba}`,
      ).toBe(0);
    });
  });
});
