/**
 * Differencing VHDs (disk type 4) against QEMU 7.2, which does not follow a VHD's parent:
 * its vpc driver opens a type-4 image as a dynamic one (no backing file in `qemu-img info`,
 * a sector the child lacks reads as zeros, an allocated block is read whole). So the ground
 * truth is built without vdisk's reading of chains:
 *
 * (a) a base made by `qemu-img create -f vpc` and written by qemu-io, a child made and
 *     written by vdisk: `vdisk convert -O raw child` is the base's raw (from `qemu-img
 *     convert`) overlaid with the writes of the test's own model, and `vdisk map` shows the
 *     base's runs (as qemu-img maps them) at depth 1 wherever the child wrote nothing;
 * (b) qemu-img reads the child as dynamic: in the sectors the child owns it reads what vdisk
 *     reads, the virtual size is the same, and it names no backing file (the difference the
 *     format's README documents);
 * (c) a child written byte by byte from the specification in the test (the fixture, not the
 *     driver) over the qemu-img base reads, in vdisk, as the merge, and in qemu-img the same
 *     in the sectors it owns.
 */
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import {
  type CraftedImage,
  craftImage,
  mergedDisk,
  sectorPattern,
  utf16,
} from '../../../format-vpc/src/differencing-image.fixture.js';
import { describeInterop, makeScratchDir, qemuImg, removeScratchDir, run, vdisk } from './peers.js';

const MiB = 1024 * 1024;
const SECTOR = 512;

interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
}

async function ok(result: Promise<{ code: number | null; stdout: string; stderr: string }>): Promise<string> {
  const { code, stdout, stderr } = await result;
  if (code !== 0) throw new Error(`exit ${code}: ${stderr}${stdout.slice(-300)}`);
  return stdout;
}

/** Each sector's `depth present zero data` in a JSON map. */
function sectorKinds(map: MapEntry[], size: number): string[] {
  const kinds: string[] = new Array(size / SECTOR);
  for (const run of map) {
    for (let s = run.start / SECTOR; s < (run.start + run.length) / SECTOR; s++) {
      kinds[s] = `${run.depth} ${run.present} ${run.zero} ${run.data}`;
    }
  }
  return kinds;
}

/** The raw disk qemu-img reads from `image` (as `format`). */
async function qemuRaw(image: string, out: string, format = 'vpc'): Promise<Uint8Array> {
  await ok(qemuImg('convert', '-f', format, '-O', 'raw', image, out));
  return new Uint8Array(await readFile(out));
}

/** The sectors of `a` and `b` that differ, among `sectors`. */
function differingSectors(a: Uint8Array, b: Uint8Array, sectors: Iterable<number>): number[] {
  const differ: number[] = [];
  for (const s of sectors) {
    if (
      !Buffer.from(a.subarray(s * SECTOR, (s + 1) * SECTOR)).equals(
        Buffer.from(b.subarray(s * SECTOR, (s + 1) * SECTOR)),
      )
    ) {
      differ.push(s);
    }
  }
  return differ;
}

describeInterop('differencing VHD over a qemu-img base', () => {
  let dir: string;
  let base: string;
  let baseRaw: Uint8Array;
  let size: number;
  let baseMap: MapEntry[];

  beforeAll(async () => {
    dir = await makeScratchDir();
    base = join(dir, 'base.vhd');
    await ok(qemuImg('create', '-f', 'vpc', base, '8M'));
    // Data in blocks 0, 1 and 3 (2 MiB each); block 2 is a hole of the base.
    await ok(
      run('qemu-io', [
        '-f',
        'vpc',
        '-c',
        'write -P 0x5a 0 3M',
        '-c',
        'write -P 0xa5 6M 128k',
        '-c',
        'write -P 0x3c 7M 4k',
        base,
      ]),
    );
    baseRaw = await qemuRaw(base, join(dir, 'base.raw'));
    size = baseRaw.length;
    baseMap = JSON.parse(await ok(qemuImg('map', '--output=json', '-f', 'vpc', base)));
  });
  afterAll(() => removeScratchDir(dir));

  it('(a, b) a child vdisk makes and writes reads as the base under its writes; qemu-img reads its own sectors alike', async () => {
    const child = join(dir, 'child.vhd');
    const made = await ok(vdisk('create', '-f', 'vpc', '-b', 'base.vhd', '-F', 'vpc', child));
    expect(made).toBe(`Formatting '${child}', fmt=vpc size=${size} base=base.vhd base-format=vpc\n`);
    // The test's model: [offset, length, pattern]; -z writes zeros (over base data too).
    const writes: [number, number, number | 'zero'][] = [
      [512, 1024, 0x11], // in block 0, over base data
      [MiB + 100, 3000, 0x22], // unaligned: vdisk reads the base's sectors around it
      [2 * MiB - 512, 1024, 0x33], // across blocks 0 and 1
      [4 * MiB + 4096, 8192, 0x44], // in block 2, a hole of the base
      [6 * MiB + 64 * 1024, 4096, 'zero'], // zeros over the base's 0xa5
      [8 * MiB - 512, 512, 0x55], // the last whole sector of block 3
    ];
    const commands = writes.flatMap(([offset, length, value]) => [
      '-c',
      value === 'zero' ? `write -z ${offset} ${length}` : `write -P ${value} ${offset} ${length}`,
    ]);
    await ok(vdisk('io', ...commands, child));
    const expected = baseRaw.slice();
    const owned = new Set<number>();
    for (const [offset, length, value] of writes) {
      expected.fill(value === 'zero' ? 0 : value, offset, offset + length);
      for (let s = Math.floor(offset / SECTOR); s < Math.ceil((offset + length) / SECTOR); s++) owned.add(s);
    }

    // (a) vdisk's convert is the merge, and the base file is untouched by the child's writes.
    const out = join(dir, 'child-vdisk.raw');
    await ok(vdisk('convert', '-O', 'raw', child, out));
    const merged = new Uint8Array(await readFile(out));
    expect(merged.length).toBe(expected.length);
    expect(
      differingSectors(
        merged,
        expected,
        Array.from({ length: size / SECTOR }, (_, s) => s),
      ),
    ).toEqual([]);
    expect(Buffer.from(await qemuRaw(base, join(dir, 'base-again.raw'))).equals(Buffer.from(baseRaw))).toBe(true);

    // vdisk map: the child's sectors at depth 0, elsewhere the base's kinds (qemu-img map of the base) at depth 1.
    const childMap: MapEntry[] = JSON.parse(await ok(vdisk('map', '--output=json', child)));
    const kinds = sectorKinds(childMap, size);
    const baseKinds = sectorKinds(baseMap, size);
    for (let s = 0; s < size / SECTOR; s++) {
      const want = owned.has(s) ? '0 true false true' : `1${(baseKinds[s] as string).slice(1)}`;
      if (kinds[s] !== want) throw new Error(`sector ${s}: vdisk map says ${kinds[s]}, expected ${want}`);
    }

    // (b) QEMU reads the child as a dynamic VHD: same size, no backing file, the owned sectors as vdisk reads them.
    const info = JSON.parse(await ok(qemuImg('info', '--output=json', child)));
    expect(info['virtual-size']).toBe(size);
    expect(info['backing-filename']).toBeUndefined();
    const qemuView = await qemuRaw(child, join(dir, 'child-qemu.raw'));
    expect(differingSectors(qemuView, merged, owned)).toEqual([]);
    // What QEMU does not follow: a sector of the base in a block the child lacks reads as zeros there.
    expect(qemuView.subarray(7 * MiB, 7 * MiB + 4096).every((b) => b === 0)).toBe(true);
    expect(merged.subarray(7 * MiB, 7 * MiB + 4096).every((b) => b === 0x3c)).toBe(true);
  });

  it('(c) a child written from the spec in the test reads as the merge in vdisk, and its own sectors alike in qemu-img', async () => {
    const baseFile = new Uint8Array(await readFile(base));
    const perBlock = (2 * MiB) / SECTOR;
    const image: CraftedImage = {
      virtualSize: size,
      blockSize: 2 * MiB,
      diskType: 4,
      uuid: new Uint8Array(16).fill(0x99),
      parentUuid: baseFile.slice(68, 84), // the base footer's unique id
      parentTimestamp: new DataView(baseFile.buffer, baseFile.byteOffset).getUint32(24),
      parentName: 'base.vhd',
      locators: [
        { code: 'W2ku', data: utf16(base, true) },
        { code: 'W2ru', data: utf16('.\\base.vhd', true) },
      ],
      sectors: [0, 3, 4, 100, perBlock + 1, 2 * perBlock + 7, 3 * perBlock + 2047].map((sector) => ({
        sector,
        data: sectorPattern(sector, 9),
      })),
      emptyBlocks: [],
      // Unwritten sectors of the child's blocks hold this: vdisk must never show it, QEMU does.
      filler: 0xee,
    };
    const child = join(dir, 'crafted.vhd');
    await writeFile(child, craftImage(image));
    const info = JSON.parse(await ok(vdisk('info', '--output=json', child)));
    expect(info).toMatchObject({
      'virtual-size': size,
      'backing-filename': 'base.vhd',
      'backing-filename-format': 'vpc',
    });
    const out = join(dir, 'crafted-vdisk.raw');
    await ok(vdisk('convert', '-O', 'raw', child, out));
    const merged = new Uint8Array(await readFile(out));
    const expected = mergedDisk(image, baseRaw);
    expect(Buffer.from(merged).equals(Buffer.from(expected))).toBe(true);
    const qemuView = await qemuRaw(child, join(dir, 'crafted-qemu.raw'));
    expect(
      differingSectors(
        qemuView,
        merged,
        image.sectors.map((s) => s.sector),
      ),
    ).toEqual([]);
    // QEMU reads a block whole: the sector after an owned one shows the filler there, the base here.
    expect(qemuView[SECTOR]).toBe(0xee);
    expect(merged[SECTOR]).toBe(baseRaw[SECTOR]);
  });
});
