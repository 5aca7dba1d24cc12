/**
 * The rest of the Bochs family against bximage 2.7: sparse images created and converted
 * byte-identical to bximage's, bximage's sparse converts read exactly, and `vdisk commit`
 * leaving the same base as `bximage -func=commit` (flat, growing and sparse bases).
 */
import { copyFile, readFile, stat, utimes, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type BlockDevice, createRegistry } from '@vdisk/core';
import { FileSource, openFile } from '@vdisk/core/node';
import { bochsModule } from '@vdisk/format-bochs';
import { rawModule } from '@vdisk/format-raw';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileDifference } from './file-difference.js';
import { describeInterop, makeScratchDir, peerPaths, removeScratchDir, run, vdiskOk } from './peers.js';

const registry = createRegistry(rawModule, bochsModule);
const DISK = 10321920; // bximage -hd=10M

/** Sectors of a seeded pattern, holes (all-zero sectors) between them, as a raw disk. */
function patternDisk(seed: number): Uint8Array {
  const disk = new Uint8Array(DISK);
  let x = seed;
  const next = () => {
    x = (x * 1103515245 + 12345) >>> 0;
    return x;
  };
  for (let run = 0; run < 40; run++) {
    const lba = next() % (DISK / 512 - 64);
    const count = 1 + (next() % 48);
    for (let i = lba * 512; i < (lba + count) * 512; i++) disk[i] = (next() >>> 24) | 1;
  }
  return disk;
}

async function bximage(...args: string[]): Promise<void> {
  const result = await run(peerPaths.bximage as string, args);
  if (result.code !== 0) throw new Error(`bximage ${args.join(' ')} exited with ${result.code}\n${result.stderr}`);
}

/** A new image through the library (`Registry.create` on a new file), opened writable. */
async function createImage(path: string, format: string, virtualSize: number, options = {}): Promise<BlockDevice> {
  const target = await FileSource.create(path, { mode: 0o644 });
  try {
    await registry.create(format, target, { virtualSize, options });
  } finally {
    await target.close();
  }
  return openFile(registry, path, { format, writable: true });
}

/** Writes every 512-byte sector of `disk` that is not all zeros, in ascending order, as bximage's convert does. */
async function writeSectors(device: BlockDevice, disk: Uint8Array): Promise<void> {
  for (let at = 0; at < disk.length; at += 512) {
    const sector = disk.subarray(at, at + 512);
    if (sector.some((b) => b !== 0)) await device.write(at, sector);
  }
}

describeInterop('the Bochs family against bximage', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  for (const size of ['10M', '100M']) {
    it(`a new sparse image is byte-identical to bximage's (-hd=${size})`, async () => {
      const theirs = join(dir, `bximage-${size}.sparse`);
      await bximage('-q', '-func=create', `-hd=${size}`, '-imgmode=sparse', theirs);
      const ours = join(dir, `vdisk-${size}.sparse`);
      const bytes = String((await openFile(registry, theirs)).virtualSize);
      await vdiskOk('create', '-f', 'bochs-sparse', ours, bytes);
      expect(await fileDifference(ours, theirs)).toBeUndefined();
    });
  }

  it("bximage's sparse convert reads exactly, and writing the same sectors gives its bytes", async () => {
    const raw = join(dir, 'pattern.raw');
    const disk = patternDisk(7);
    await writeFile(raw, disk);
    const theirs = join(dir, 'bximage-convert.sparse');
    await bximage('-q', '-func=convert', '-imgmode=sparse', raw, theirs);
    // Read through the CLI: vdisk sees bximage's image as the raw disk.
    const back = join(dir, 'back.raw');
    await vdiskOk('convert', '-f', 'bochs-sparse', '-O', 'raw', theirs, back);
    expect(await fileDifference(back, raw)).toBeUndefined();
    // vdisk convert -O bochs-sparse lays out the same file (zeros skipped per 512-byte sector, as bximage).
    const ours = join(dir, 'vdisk-convert.sparse');
    await vdiskOk('convert', '-O', 'bochs-sparse', raw, ours);
    expect(await fileDifference(ours, theirs)).toBeUndefined();
    // And so do the library's writes in the same order.
    const library = join(dir, 'library-convert.sparse');
    const device = await createImage(library, 'bochs-sparse', DISK);
    await writeSectors(device, disk);
    await device.close();
    expect(await fileDifference(library, theirs)).toBeUndefined();
  });

  for (const baseMode of ['flat', 'growing', 'sparse'] as const) {
    it(`vdisk commit and bximage -func=commit leave byte-identical ${baseMode} bases`, async () => {
      const base = join(dir, `commit-${baseMode}.img`);
      const contents = patternDisk(11);
      if (baseMode === 'flat') {
        await writeFile(base, contents);
      } else {
        const format = baseMode === 'growing' ? 'bochs' : 'bochs-sparse';
        const device = await createImage(base, format, DISK);
        await writeSectors(device, contents);
        await device.close();
      }
      // A redolog of other sectors over it, written by vdisk and stamped with the base's time.
      const log = `${base}.redolog`;
      await vdiskOk('create', '-f', 'bochs-redolog', '-b', `commit-${baseMode}.img`, log);
      const writer = await openFile(registry, log, {
        writable: true,
        options: baseMode === 'flat' ? { 'base-format': 'raw' } : {},
      });
      const changes = patternDisk(23);
      await writeSectors(writer, changes);
      await writer.close();

      const copy = (name: string) => join(dir, `commit-${baseMode}-${name}.img`);
      const { mtime } = await stat(base);
      for (const who of ['vdisk', 'bximage']) {
        await copyFile(base, copy(who));
        await copyFile(log, `${copy(who)}.redolog`);
        await utimes(copy(who), mtime, mtime); // Bochs's coherency check compares the base's mtime
      }
      const flatOption = baseMode === 'flat' ? ['-o', 'base-format=raw'] : [];
      expect(await vdiskOk('commit', ...flatOption, `${copy('vdisk')}.redolog`)).toBe('Image committed.\n');
      await bximage('-q', '-func=commit', copy('bximage'), `${copy('bximage')}.redolog`);
      const ours = await readFile(copy('vdisk'));
      const theirs = await readFile(copy('bximage'));
      if (baseMode === 'growing') {
        // bximage stamps a growing image's header when it opens it (BOCHS-FAMILY.md §1).
        ours.fill(0, 0x54, 0x58);
        theirs.fill(0, 0x54, 0x58);
      }
      expect(ours.length).toBe(theirs.length);
      expect(Buffer.compare(ours, theirs)).toBe(0);
      // And the base reads as base plus redolog.
      const expected = contents.slice();
      for (let at = 0; at < DISK; at += 512) {
        const sector = changes.subarray(at, at + 512);
        if (sector.some((b) => b !== 0)) expected.set(sector, at);
      }
      const flat = join(dir, `commit-${baseMode}-flat.raw`);
      await vdiskOk('convert', '-O', 'raw', copy('vdisk'), flat);
      expect(Buffer.compare(await readFile(flat), Buffer.from(expected))).toBe(0);
    });
  }
});
