/**
 * Bochs images made through the library, as an embedder makes them: `Registry.create` on a
 * new file, then writes through a writable `BlockDevice` (core's write path and the
 * driver's), to files the peers then read.
 */
import { readFile, unlink } from 'node:fs/promises';
import { type BlockDevice, copyDevice, createRegistry } from '@vdisk/core';
import { FileSource, openFile } from '@vdisk/core/node';
import { bochsModule } from '@vdisk/format-bochs';
import { rawModule } from '@vdisk/format-raw';

const registry = createRegistry(rawModule, bochsModule);

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
 * `convert -O bochs` of a raw file, as an embedder writes it: `Registry.create` for the raw's
 * size, then core's sparse `copyDevice` with bximage's zero granularity of 512 (all-zero
 * sectors are not written; writes go in ascending order, so slots are taken in bximage's).
 */
export async function convertWithLibrary(raw: string, path: string): Promise<void> {
  const from = await openFile(registry, raw, { format: 'raw' });
  try {
    await createWithLibrary(path, from.virtualSize);
    await editWithLibrary(path, (to) => copyDevice(from, to, { zeroGranularity: 512 }));
  } finally {
    await from.close();
  }
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
