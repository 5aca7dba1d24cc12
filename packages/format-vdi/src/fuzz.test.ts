import { type FuzzField, fuzzDriver } from '@vdisk/conformance';
import { MemorySource, Registry } from '@vdisk/core';
import { it } from 'vitest';
import { createImage } from './create-image.js';
import { FIELD } from './header.js';
import { VdiDriver } from './vdi-driver.js';

// Fuzzing through core (fuzzDriver): dynamic and static images with header and block map
// fields at boundary values, bytes flipped, the file cut short. Only typed errors, and no
// source read larger than the file or one request.
const RUNS = Number(process.env.VDISK_FUZZ_RUNS ?? 400);
const driver = new VdiDriver();

async function image(size: number, options: Record<string, string>, writes: number[]): Promise<Uint8Array> {
  const source = new MemorySource();
  await createImage(source, { virtualSize: size, options });
  const device = await new Registry([driver]).open(source, { format: 'vdi', writable: true });
  for (const at of writes) await device.write(at, new Uint8Array(4096).fill(at % 251));
  await device.close();
  return source.bytes.slice();
}

it('vdi: only typed errors and bounded reads on mutated images', async () => {
  const images = [
    await image(3 * 1024 * 1024, {}, [2 * 1024 * 1024, 0]),
    await image(1024 * 1024, { static: 'on' }, []),
  ];
  const fields: FuzzField[] = [
    [FIELD.signature, 4],
    [FIELD.version, 4],
    [FIELD.imageType, 4],
    [FIELD.offsetBmap, 4],
    [FIELD.offsetData, 4],
    [FIELD.sectorSize, 4],
    [FIELD.diskSize, 8],
    [FIELD.blockSize, 4],
    [FIELD.blocksInImage, 4],
    [FIELD.blocksAllocated, 4],
    [512, 4],
    [516, 4],
    [520, 4],
  ].map(([offset, size]) => ({ offset: offset as number, size: size as 4 | 8, littleEndian: true }));
  await fuzzDriver({ driver, images, fields, numRuns: RUNS, seed: 17 });
}, 120_000);
