/**
 * Bochs images made through the library, as an embedder makes them: the driver's `create`,
 * then writes through its callbacks, on an in-memory writable source (PowerLossSource, with
 * no delays), saved to a file for the peers to read.
 */
import { open, readFile, writeFile } from 'node:fs/promises';
import { PowerLossSource } from '@vdisk/core/testing';
import { BochsDriver, type BochsImage } from '@vdisk/format-bochs';

const driver = new BochsDriver();
const SECTOR = 512;
const CHUNK = 1 << 20;

/** A new image of `virtualSize` bytes (the driver's create), saved at `path`. */
export async function createWithLibrary(
  path: string,
  virtualSize: number,
  options: Record<string, string> = {},
): Promise<void> {
  const target = new PowerLossSource(new Uint8Array(0), { maxDelay: 0 });
  await driver.create(target, { virtualSize, options });
  await writeFile(path, target.bytes());
}

/** Opens the image at `path` writable in memory, lets `body` write to it, saves it back. */
export async function editWithLibrary(path: string, body: (image: BochsImage) => Promise<void>): Promise<void> {
  const source = new PowerLossSource(await readFile(path), { maxDelay: 0 });
  const image = await driver.open(source, { writable: true, options: {} });
  await body(image);
  await driver.flush(image);
  await writeFile(path, source.bytes());
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
    await editWithLibrary(path, async (image) => {
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
          await driver.write(image, at + first * SECTOR, [chunk.slice(first * SECTOR, s * SECTOR)]);
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
