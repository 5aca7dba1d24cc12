import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { IMAGE_SPECS, type InteropImage, useImageSet } from './image-set.js';
import { describeInterop, makeScratchDir, qemuImgInfo, qemuImgInfoHuman, removeScratchDir, vdiskOk } from './peers.js';

/** The line of a human `info` output that starts with `key:`. */
function line(output: string, key: string): string | undefined {
  return output.split('\n').find((l) => l.startsWith(`${key}:`));
}

describeInterop('vdisk info of bximage images, against qemu-img info', () => {
  const { images } = useImageSet();

  for (const { name } of IMAGE_SPECS) {
    it(`${name}: the same format, virtual size and disk size`, async () => {
      const image = images.get(name) as InteropImage;
      const [json, theirs, human, qemuHuman] = await Promise.all([
        vdiskOk('info', '--output=json', image.path),
        qemuImgInfo(image.path),
        vdiskOk('info', image.path),
        qemuImgInfoHuman(image.path),
      ]);
      const ours = JSON.parse(json);
      expect(theirs.format).toBe('bochs');
      expect(ours.format).toBe('bochs');
      expect(theirs['virtual-size']).toBe(image.virtualSize);
      expect(ours['virtual-size']).toBe(image.virtualSize);
      expect(ours['actual-size']).toBe(theirs['actual-size']);

      for (const key of ['image', 'file format', 'virtual size', 'disk size']) {
        expect(line(human, key), key).toBe(line(qemuHuman, key));
        expect(line(human, key), key).toBeDefined();
      }
    });
  }
});

/**
 * Sizes around humanSize's edges, where printf's `%0.3g` rounds a tie to even or switches to
 * `1e+03`, in every unit. Multiples of 512 only: qemu-img rounds a raw file's size up to one
 * (CONTRACT.md, "raw"). Raw files are sparse, so a TiB costs nothing (ext4 allows up to 16 TiB).
 */
const EDGE_SIZES = [
  512, 1536, 102400, 1023488, 1048064, 1179648, 2228224, 10747904, 105381888, 1048051712, 1073741312, 1207959552,
  11005853696, 107911053312, 1073204953088, 1236950581248,
];

describeInterop('vdisk info virtual size line, against qemu-img, for raw files of edge sizes', () => {
  let dir: string | undefined;
  beforeAll(async () => {
    dir = await makeScratchDir();
  });
  afterAll(() => removeScratchDir(dir));

  it.each(EDGE_SIZES)('%d bytes', async (size) => {
    const path = join(dir as string, `edge-${size}.raw`);
    await (await open(path, 'w')).close();
    await truncate(path, size);
    const [human, qemuHuman] = await Promise.all([vdiskOk('info', '-f', 'raw', path), qemuImgInfoHuman(path, 'raw')]);
    const ours = line(human, 'virtual size');
    expect(ours).toBe(line(qemuHuman, 'virtual size'));
    expect(ours).toContain(`(${size} bytes)`);
  });
});
