import { type FuzzField, fuzzDriver } from '@vdisk/conformance';
import { MemorySource, Registry } from '@vdisk/core';
import { it } from 'vitest';
import { createImage } from './create-image.js';
import { FIELD } from './header.js';
import { VmdkDriver } from './vmdk-driver.js';

// Fuzzing through core (fuzzDriver): images with header, directory and grain table fields at
// boundary values, bytes flipped, the file cut short. Only typed errors, and no source read
// larger than the file or one request.
const RUNS = Number(process.env.VDISK_FUZZ_RUNS ?? 400);
const driver = new VmdkDriver();

async function image(size: number, options: Record<string, string>, writes: number[]): Promise<Uint8Array> {
  const source = new MemorySource();
  await createImage(source, { virtualSize: size, options });
  const device = await new Registry([driver]).open(source, { format: 'vmdk', writable: true });
  for (const at of writes) await device.write(at, new Uint8Array(4096).fill(at % 251));
  await device.close();
  return source.bytes.slice();
}

it('vmdk: only typed errors and bounded reads on mutated images', async () => {
  const images = [
    await image(1024 * 1024, {}, [0, 200000, 1024 * 1024 - 4096]),
    await image(512 * 1024, { zeroed_grain: 'on' }, [65536]),
  ];
  const header: FuzzField[] = [
    [FIELD.version, 4],
    [FIELD.flags, 4],
    [FIELD.capacity, 8],
    [FIELD.granularity, 8],
    [FIELD.descriptorOffset, 8],
    [FIELD.gtesPerGt, 4],
    [FIELD.rgdOffset, 8],
    [FIELD.gdOffset, 8],
    [FIELD.grainOffset, 8],
    [FIELD.compressAlgorithm, 2],
  ].map(([offset, size]) => ({ offset: offset as number, size: size as 2 | 4 | 8, littleEndian: true }));
  // The redundant and primary directories' first entries and the first grain table entries
  // (at sectors 21, 22, 26 and 27 in images of this size).
  const tables: FuzzField[] = [21 * 512, 22 * 512, 22 * 512 + 4, 26 * 512, 27 * 512, 27 * 512 + 12].map((offset) => ({
    offset,
    size: 4,
    littleEndian: true,
  }));
  await fuzzDriver({ driver, images, fields: [...header, ...tables], numRuns: RUNS, seed: 19 });
}, 120_000);
