import { type FuzzField, fuzzDriver } from '@vdisk/conformance';
import { MemorySource, Registry } from '@vdisk/core';
import { it } from 'vitest';
import { createImage } from './create-image.js';
import { DYNAMIC, FOOTER } from './footer.js';
import { VpcDriver } from './vpc-driver.js';

// Fuzzing through core (fuzzDriver): dynamic and fixed images with their footer, dynamic
// header and BAT fields at boundary values, bytes flipped, the file cut short. Only typed
// errors, and no source read larger than the file or one request.
const RUNS = Number(process.env.VDISK_FUZZ_RUNS ?? 400);
const driver = new VpcDriver();

async function image(size: number, options: Record<string, string>, writes: number[]): Promise<Uint8Array> {
  const source = new MemorySource();
  await createImage(source, { virtualSize: size, options });
  const device = await new Registry([driver]).open(source, { format: 'vpc', writable: true });
  for (const at of writes) await device.write(at, new Uint8Array(4096).fill(at % 251));
  await device.close();
  return source.bytes.slice();
}

const footer = (base: number): FuzzField[] =>
  [
    [FOOTER.dataOffset, 8],
    [FOOTER.creatorApp, 4],
    [FOOTER.currentSize, 8],
    [FOOTER.cylinders, 2],
    [FOOTER.heads, 1],
    [FOOTER.sectors, 1],
    [FOOTER.diskType, 4],
  ].map(([offset, size]) => ({ offset: base + (offset as number), size: size as 1 | 2 | 4 | 8, littleEndian: false }));

/** A differencing disk over a new dynamic base (created with the base open, as `vdisk create -b` does). */
async function differencing(): Promise<Uint8Array> {
  const registry = new Registry([driver]);
  const base = await registry.open(new MemorySource(await image(3 * 1024 * 1024, {}, [4096])), { format: 'vpc' });
  const target = new MemorySource();
  await createImage(target, {
    virtualSize: base.virtualSize,
    options: {},
    backing: { device: base, filename: 'base.vhd', fullFilename: '/images/base.vhd' },
  });
  await base.close();
  return target.bytes.slice();
}

it('vpc: only typed errors and bounded reads on mutated images', async () => {
  const images = [
    await image(5 * 1024 * 1024, {}, [0, 3 * 1024 * 1024]),
    await image(3 * 1024 * 1024, { force_size: 'on' }, [4096]),
    await image(1024 * 1024, { subformat: 'fixed' }, []),
    await differencing(),
  ];
  const dynamic: FuzzField[] = [DYNAMIC.tableOffset, DYNAMIC.maxTableEntries, DYNAMIC.blockSize].map((offset) => ({
    offset: 512 + offset,
    size: offset === DYNAMIC.tableOffset ? 8 : 4,
    littleEndian: false,
  }));
  const bat: FuzzField[] = [0, 1, 2].map((i) => ({ offset: 1536 + 4 * i, size: 4, littleEndian: false }));
  // A differencing disk's parent locators: platform code, data space, length and offset of the first two.
  const locators: FuzzField[] = [0, 1].flatMap((i) =>
    [
      [0, 4],
      [4, 4],
      [8, 4],
      [16, 8],
    ].map(([at, size]) => ({
      offset: 512 + DYNAMIC.parentLocators + 24 * i + (at as number),
      size: size as 4 | 8,
      littleEndian: false,
    })),
  );
  await fuzzDriver({
    driver,
    images,
    fields: [...footer(0), ...dynamic, ...bat, ...locators],
    numRuns: RUNS,
    seed: 13,
  });
}, 120_000);
