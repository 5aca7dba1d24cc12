/**
 * The Bochs images the interop tests read: made by bximage, each with the raw file that holds
 * exactly what its virtual disk must read as. Sizes are chosen so that bximage picks four
 * different extent sizes (FORMAT.md §4: 4, 16, 32 and 64 KiB), some with a partial last
 * extent, while keeping what qemu-img must read small (it reads Bochs sector by sector).
 *
 * Use: `const images = await buildImages(dir)` in a `beforeAll`, or pass a subset of
 * `IMAGE_SPECS` (see `specsNamed`).
 */
import { open, truncate } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll } from 'vitest';
import { type DiskContents, writeDiskContents } from './disk-contents.js';
import { bximageConvert, bximageCreate, makeScratchDir, removeScratchDir } from './peers.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export type ImageSpec = {
  name: string;
  /** The extent size bximage must choose for this size (FORMAT.md §4); checked when the image is built. */
  extent: number;
} & (
  | /** `bximage -func=create -hd=<create>M`: an empty image. */ { create: number }
  | /** `bximage -func=convert` of these raw contents. */ { convert: DiskContents }
);

export const IMAGE_SPECS: readonly ImageSpec[] = [
  { name: 'create-10M', create: 10, extent: 16 * KiB },
  { name: 'create-200M', create: 200, extent: 64 * KiB },
  { name: 'pattern-2M', convert: { kind: 'pattern', size: 2 * MiB - 3 * 512 }, extent: 4 * KiB },
  { name: 'pattern-40M', convert: { kind: 'pattern', size: 40 * MiB }, extent: 32 * KiB },
  { name: 'random-10M', convert: { kind: 'random', size: 10 * MiB, seed: 'random-10M' }, extent: 16 * KiB },
  {
    name: 'holes-1M',
    convert: { kind: 'holes', size: MiB + 5 * 512, extent: 4 * KiB, seed: 'holes-1M' },
    extent: 4 * KiB,
  },
  {
    name: 'holes-10M',
    convert: { kind: 'holes', size: 10 * MiB + 37 * 512, extent: 16 * KiB, seed: 'holes-10M' },
    extent: 16 * KiB,
  },
  {
    name: 'holes-70M',
    convert: { kind: 'holes', size: 70 * MiB - 11 * 512, extent: 32 * KiB, seed: 'holes-70M' },
    extent: 32 * KiB,
  },
  {
    name: 'holes-300M',
    convert: { kind: 'holes', size: 300 * MiB + 512, extent: 64 * KiB, seed: 'holes-300M' },
    extent: 64 * KiB,
  },
];

/** A built image. */
export interface InteropImage {
  spec: ImageSpec;
  name: string;
  /** The Bochs image bximage made. */
  path: string;
  /** A raw file holding exactly the image's virtual disk: the convert source, or zeros for a new image. */
  raw: string;
  /** The virtual disk's size in bytes, as the spec implies it (not as any reader reports it). */
  virtualSize: number;
}

/** The specs with these names, in this order (throws on an unknown name). */
export function specsNamed(...names: string[]): ImageSpec[] {
  return names.map((name) => {
    const spec = IMAGE_SPECS.find((s) => s.name === name);
    if (spec === undefined) throw new Error(`no interop image named ${name}`);
    return spec;
  });
}

/**
 * bximage's create rounds down to whole cylinders of 16 heads * 63 sectors (bximage.cc), so
 * `-hd=10M` gives 20 cylinders: 10321920 bytes.
 */
export function bximageCreatedSize(megabytes: number): number {
  const cylinder = 16 * 63 * 512;
  return Math.floor((megabytes * MiB) / cylinder) * cylinder;
}

/** Builds the images in `dir`, one after the other (bximage is I/O bound; the machine has few cores). */
export async function buildImages(dir: string, specs: readonly ImageSpec[] = IMAGE_SPECS): Promise<InteropImage[]> {
  const images: InteropImage[] = [];
  for (const spec of specs) {
    const path = join(dir, `${spec.name}.bochs`);
    const raw = join(dir, `${spec.name}.raw`);
    let virtualSize: number;
    if ('create' in spec) {
      await bximageCreate(path, `${spec.create}M`);
      virtualSize = bximageCreatedSize(spec.create);
      await writeZeros(raw, virtualSize);
    } else {
      await writeDiskContents(raw, spec.convert);
      await bximageConvert(raw, path);
      virtualSize = spec.convert.size;
    }
    const extent = await headerExtentSize(path);
    if (extent !== spec.extent) {
      throw new Error(`bximage chose extent ${extent} for ${spec.name}, not ${spec.extent}: fix IMAGE_SPECS`);
    }
    images.push({ spec, name: spec.name, path, raw, virtualSize });
  }
  return images;
}

async function writeZeros(path: string, size: number): Promise<void> {
  await (await open(path, 'w')).close();
  await truncate(path, size);
}

/** The extent field of a Bochs header (uint32 LE at 0x50, FORMAT.md §1), read directly from the file. */
export async function headerExtentSize(path: string): Promise<number> {
  const file = await open(path);
  try {
    const field = Buffer.alloc(4);
    await file.read(field, 0, 4, 0x50);
    return field.readUInt32LE(0);
  } finally {
    await file.close();
  }
}

/**
 * The image set for the enclosing describe: built once in a scratch directory before its
 * tests, removed after. `scratch()` is that directory, for a test's own outputs.
 */
export function useImageSet(): { images: Map<string, InteropImage>; scratch: () => string } {
  let dir: string | undefined;
  const images = new Map<string, InteropImage>();
  beforeAll(async () => {
    dir = await makeScratchDir();
    for (const image of await buildImages(dir)) images.set(image.name, image);
  });
  afterAll(() => removeScratchDir(dir));
  return { images, scratch: () => dir as string };
}
