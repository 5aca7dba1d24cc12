import { copyFile, stat, truncate, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { fileDifference } from './file-difference.js';
import { headerExtentSize, IMAGE_SPECS, type InteropImage, useImageSet } from './image-set.js';
import { describeInterop, qemuImgConvertToRaw, vdiskOk } from './peers.js';

describeInterop('vdisk convert -O raw of bximage images', () => {
  const { images, scratch } = useImageSet();

  it('covers at least three extent sizes', async () => {
    const extents = new Set<number>();
    for (const image of images.values()) extents.add(await headerExtentSize(image.path));
    expect(extents.size).toBeGreaterThanOrEqual(3);
  });

  for (const { name } of IMAGE_SPECS) {
    it(`${name}: equals qemu-img convert and the raw disk, byte for byte`, async () => {
      const image = images.get(name) as InteropImage;
      const ours = join(scratch(), `${name}.vdisk.raw`);
      const theirs = join(scratch(), `${name}.qemu.raw`);
      try {
        await vdiskOk('convert', '-O', 'raw', image.path, ours);
        await qemuImgConvertToRaw(image.path, theirs);
        expect(await fileDifference(ours, theirs)).toBeUndefined();
        expect(await fileDifference(ours, image.raw)).toBeUndefined();
      } finally {
        await Promise.all([unlink(ours).catch(() => {}), unlink(theirs).catch(() => {})]);
      }
    });
  }

  // A truncated file reads as QEMU reads it: whatever lies past the end, catalog included,
  // reads as zeros (CONTRACT.md, "Truncated files"). Cut holes-10M (catalog 1024 entries, so
  // the data area starts at 512 + 4096 = 4608, slots of 512 + 16384 bytes) at each place.
  const cuts: [string, (size: number) => number][] = [
    ['after the header fields', () => 100],
    ['in the catalog', () => 2048],
    ['in the first bitmap', () => 4608 + 100],
    ['in the first extent', () => 4608 + 512 + 1000],
    ['in the last slot', (size) => size - 700],
  ];
  for (const [where, cut] of cuts) {
    it(`holes-10M cut ${where}: equals qemu-img convert`, async () => {
      const image = images.get('holes-10M') as InteropImage;
      const cutImage = join(scratch(), `holes-10M.cut.bochs`);
      const ours = join(scratch(), 'cut.vdisk.raw');
      const theirs = join(scratch(), 'cut.qemu.raw');
      try {
        await copyFile(image.path, cutImage);
        await truncate(cutImage, cut((await stat(image.path)).size));
        await vdiskOk('convert', '-O', 'raw', cutImage, ours);
        await qemuImgConvertToRaw(cutImage, theirs);
        expect(await fileDifference(ours, theirs)).toBeUndefined();
      } finally {
        await Promise.all([cutImage, ours, theirs].map((path) => unlink(path).catch(() => {})));
      }
    });
  }
});
