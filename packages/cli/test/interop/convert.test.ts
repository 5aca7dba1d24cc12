import { unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { fileDifference } from './file-difference.js';
import { buildImages, headerExtentSize, IMAGE_SPECS, type InteropImage } from './image-set.js';
import { describeInterop, makeScratchDir, qemuImgConvertToRaw, removeScratchDir, vdiskOk } from './peers.js';

describeInterop('vdisk convert -O raw of bximage images', () => {
  let dir: string | undefined;
  const images = new Map<string, InteropImage>();

  beforeAll(async () => {
    dir = await makeScratchDir();
    for (const image of await buildImages(dir)) images.set(image.name, image);
  });
  afterAll(() => removeScratchDir(dir));

  it('covers at least three extent sizes', async () => {
    const extents = new Set<number>();
    for (const image of images.values()) extents.add(await headerExtentSize(image.path));
    expect(extents.size).toBeGreaterThanOrEqual(3);
  });

  for (const { name } of IMAGE_SPECS) {
    it(`${name}: equals qemu-img convert and the raw disk, byte for byte`, async () => {
      const image = images.get(name) as InteropImage;
      const ours = join(dir as string, `${name}.vdisk.raw`);
      const theirs = join(dir as string, `${name}.qemu.raw`);
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
});
