/**
 * Bochs images made through the library, as an embedder makes them: `Registry.create` on a
 * new file, then writes through a writable `BlockDevice` (core's write path and the
 * driver's), to files the peers then read.
 */
import { open, readFile, unlink } from 'node:fs/promises';
import { type BlockDevice, createRegistry } from '@vdisk/core';
import { FileSource } from '@vdisk/core/node';
import { bochsModule } from '@vdisk/format-bochs';

const registry = createRegistry(bochsModule);
const SECTOR = 512;
const CHUNK = 1 << 20;

/** A new image of `virtualSize` bytes at `path` (replacing any file there), made by `Registry.create`. */
export async function createWithLibrary(
  path: string,
  virtualSize: number,
  options: Record<string, string> = {},
): Promise<void> {
  await unlink(path).catch(() => {});
  const target = await FileSource.create(path);
  try {
    await registry.create('bochs', target, { virtualSize, options });
  } finally {
    await target.close();
  }
}

/**
 * Opens the image at `path` writable, lets `body` write to it, flushes and closes it.
 * `cache: 'unsafe'` as convert uses it for a new file: barriers cost nothing here.
 */
export async function editWithLibrary(
  path: string,
  body: (device: BlockDevice) => Promise<void>,
  cache: 'unsafe' | 'writeback' = 'unsafe',
): Promise<void> {
  const device = await registry.open(await FileSource.open(path, { writable: true }), {
    format: 'bochs',
    writable: true,
    cache,
  });
  try {
    await body(device);
    await device.flush();
  } finally {
    await device.close();
  }
}

/**
 * `convert -O bochs` of a raw file, as core's sparse copy does it with a zero granularity
 * of 512 (bximage's): a new image of the raw's size, then every run of sectors that are
 * not all zeros written in ascending order, so slots are taken in bximage's order.
 */
export async function convertWithLibrary(raw: string, path: string): Promise<void> {
  const file = await open(raw);
  try {
    const { size } = await file.stat();
    await createWithLibrary(path, size);
    await editWithLibrary(path, async (device) => {
      const chunk = new Uint8Array(CHUNK);
      for (let at = 0; at < size; at += CHUNK) {
        const length = Math.min(CHUNK, size - at);
        await file.read(chunk, 0, length, at);
        let s = 0;
        while (s * SECTOR < length) {
          if (isZeroSector(chunk, s)) {
            s++;
            continue;
          }
          const first = s;
          while (s * SECTOR < length && !isZeroSector(chunk, s)) s++;
          await device.write(at + first * SECTOR, chunk.subarray(first * SECTOR, s * SECTOR));
        }
      }
    });
  } finally {
    await file.close();
  }
}

function isZeroSector(bytes: Uint8Array, sector: number): boolean {
  for (let i = sector * SECTOR; i < (sector + 1) * SECTOR; i++) if (bytes[i] !== 0) return false;
  return true;
}

/** Whether two files are equal but for the bytes `[mask[0], mask[1])` (a header's timestamp). */
export async function sameExceptRange(a: string, b: string, mask: [number, number]): Promise<string | undefined> {
  const [x, y] = await Promise.all([readFile(a), readFile(b)]);
  if (x.length !== y.length) return `sizes differ: ${x.length} and ${y.length}`;
  for (let i = 0; i < x.length; i++) {
    if (i >= mask[0] && i < mask[1]) continue;
    if (x[i] !== y[i]) return `first difference at byte ${i}: ${x[i]} and ${y[i]}`;
  }
  return undefined;
}
