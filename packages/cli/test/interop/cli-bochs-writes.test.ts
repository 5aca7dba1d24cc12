import { readFile, stat, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileDifference } from './file-difference.js';
import {
  bximageConvert,
  bximageCreate,
  describeInterop,
  makeScratchDir,
  qemuImgConvertToRaw,
  removeScratchDir,
  vdiskOk,
} from './peers.js';

/** Bochs v2 headers carry bximage's timestamp at 0x54..0x57; vdisk writes 0 there. */
const TIMESTAMP = { start: 0x54, end: 0x58 };

/** The first offset where two images differ outside the timestamp, or undefined. */
async function differenceButTimestamp(a: string, b: string): Promise<string | undefined> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  if (x.length !== y.length) return `sizes differ: ${x.length} and ${y.length}`;
  for (let i = 0; i < x.length; i++) {
    if (i >= TIMESTAMP.start && i < TIMESTAMP.end) continue;
    if (x[i] !== y[i]) return `byte ${i}: ${x[i]} and ${y[i]}`;
  }
  return undefined;
}

const KiB = 1024;
const MiB = 1024 * KiB;

/** Deterministic nonzero bytes. */
function filled(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length);
  let state = seed;
  for (let i = 0; i < length; i++) {
    state = (state * 1103515245 + 12345) >>> 0;
    bytes[i] = (state >>> 24) | 1;
  }
  return bytes;
}

/**
 * Raw disks that exercise bximage's convert: its geometry (extents double with the disk) and
 * its zero detection (all-zero 512-byte sectors are skipped, so an extent whose first
 * sectors are zeros gets a bitmap without their bits, and an extent of zeros no slot).
 */
function disks(): { name: string; size: number; writes: [number, Uint8Array][] }[] {
  return [
    {
      // 10 MiB: 1024 entries of 16 KiB.
      name: 'zero-heads-singles-zero-extents',
      size: 10 * MiB,
      writes: [
        [16 * KiB + 5 * 512, filled(512, 1)], // an extent that begins with five zero sectors
        [100 * 512, filled(1, 2)], // a single written byte: one sector with one nonzero byte
        [48 * KiB, new Uint8Array(16 * KiB)], // written zeros: an all-zero extent between data
        [64 * KiB, filled(100, 3)],
        [5 * MiB + 512, filled(512, 4)], // one sector, the second of its extent
        [5 * MiB + 16 * KiB - 512, filled(512, 5)], // the last sector of an extent
        [10 * MiB - 512, filled(512, 6)], // the disk's last sector
      ],
    },
    {
      // Exactly 512 entries of 4 KiB: the end of bximage's first geometry.
      name: 'first-geometry-full',
      size: 2 * MiB,
      writes: [
        [0, filled(4 * KiB, 7)],
        [2 * MiB - 4 * KiB, filled(4 * KiB, 8)],
      ],
    },
    {
      // One sector past it: the bitmap doubles (512 entries of 8 KiB).
      name: 'past-first-geometry',
      size: 2 * MiB + 512,
      writes: [
        [2 * MiB, filled(512, 9)],
        [8 * KiB + 512, filled(3 * 512, 10)],
      ],
    },
    {
      // Past the next doubling too: 1024 entries of 8 KiB, and a size that is not a whole number of extents.
      name: 'past-second-geometry-odd-size',
      size: 4 * MiB + 3 * 512,
      writes: [
        [4 * MiB + 1024, filled(512, 11)],
        [1 * MiB + 100, filled(20 * KiB, 12)],
      ],
    },
    {
      // Random data and holes over many extents of a larger disk (1024 entries of 64 KiB, roughly).
      name: 'scattered-64M',
      size: 64 * MiB,
      writes: Array.from({ length: 200 }, (_, i): [number, Uint8Array] => [
        ((i * 7919 * 4096) % (64 * MiB - 8 * KiB)) + (i % 7) * 512,
        i % 5 === 0 ? new Uint8Array(4 * KiB) : filled(512 * (1 + (i % 9)), 100 + i),
      ]),
    },
  ];
}

describeInterop('vdisk create and convert -O bochs through the CLI equal bximage', () => {
  let scratch: string | undefined;
  const path = (name: string) => join(scratch as string, name);
  beforeAll(async () => {
    scratch = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(scratch));

  for (const disk of disks()) {
    it(`convert -O bochs of ${disk.name}: byte-identical to bximage -func=convert -imgmode=growing but for the timestamp`, async () => {
      const raw = path(`${disk.name}.raw`);
      const bytes = new Uint8Array(disk.size);
      for (const [offset, data] of disk.writes) bytes.set(data, offset);
      await writeFile(raw, bytes);
      const ours = path(`${disk.name}.vdisk.bochs`);
      const theirs = path(`${disk.name}.bximage.bochs`);
      const back = path(`${disk.name}.back.raw`);
      try {
        await vdiskOk('convert', '-f', 'raw', '-O', 'bochs', raw, ours);
        await bximageConvert(raw, theirs);
        expect(await differenceButTimestamp(ours, theirs)).toBeUndefined();
        // The timestamp is 0, as bximage's create writes it.
        expect((await readFile(ours)).readUInt32LE(0x54)).toBe(0);
        // And qemu-img reads vdisk's image back exactly.
        await qemuImgConvertToRaw(ours, back);
        expect(await fileDifference(back, raw)).toBeUndefined();
      } finally {
        await Promise.all([raw, ours, theirs, back].map((file) => unlink(file).catch(() => {})));
      }
    });
  }

  it("convert -S 4k -O bochs writes whole 4 KiB blocks: no longer bximage's layout, same disk", async () => {
    const raw = path('granularity.raw');
    const bytes = new Uint8Array(10 * MiB);
    bytes.set(filled(512, 20), 16 * KiB + 5 * 512); // sector 5 of an extent: 4 KiB blocks keep sectors 0..7
    await writeFile(raw, bytes);
    const sectors = path('sectors.bochs');
    const blocks = path('blocks.bochs');
    await vdiskOk('convert', '-f', 'raw', '-O', 'bochs', raw, sectors);
    await vdiskOk('convert', '-f', 'raw', '-O', 'bochs', '-S', '4k', raw, blocks);
    expect(await differenceButTimestamp(sectors, blocks)).toBeDefined();
    expect(await vdiskOk('compare', '-f', 'bochs', '-F', 'raw', blocks, raw)).toBe('Images are identical.\n');
  });

  // Each size bximage makes (it rounds -hd down to whole cylinders of 16*63 sectors), given exactly.
  for (const megabytes of [10, 64, 100, 1000, 4096]) {
    it(`create -f bochs of bximage's -hd=${megabytes}M size is byte-identical to bximage -func=create`, async () => {
      const theirs = await bximageCreate(path(`create-${megabytes}.bximage.bochs`), `${megabytes}M`);
      const { size } = await stat(theirs);
      const bytes = await readFile(theirs);
      const diskSize = Number(bytes.readBigUInt64LE(0x58));
      const ours = path(`create-${megabytes}.vdisk.bochs`);
      expect(await vdiskOk('create', '-f', 'bochs', ours, String(diskSize))).toBe(
        `Formatting '${ours}', fmt=bochs size=${diskSize}\n`,
      );
      expect((await stat(ours)).size).toBe(size);
      expect(await differenceButTimestamp(ours, theirs)).toBeUndefined();
      await Promise.all([unlink(ours), unlink(theirs)]);
    });
  }
});
