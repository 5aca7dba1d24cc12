import { runDriverConformance } from '@vdisk/conformance';
import { BlockDevice, MemorySource } from '@vdisk/core';
import { rawStandIn } from './raw-stand-in.fixture.js';
import { BochsRedologDriver } from './redolog-driver.js';
import { buildBochsImage } from './testing/index.js';

const DISK = 1032192;
const sectors = (count: number, seed: number) => {
  const data = new Uint8Array(count * 512);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7 + seed * 13) % 255) + 1;
  return data;
};
/** A flat base whose every sector is nonzero, so what comes from it is never mistaken for a hole. */
const baseBytes = () => new Uint8Array(DISK).map((_, i) => ((i >> 9) % 250) + 3);

function redologCase(writes: Array<{ offset: number; data: Uint8Array }>) {
  return () => {
    const base = baseBytes();
    const expected = base.slice();
    for (const { offset, data } of writes) expected.set(data, offset);
    const source = new MemorySource(buildBochsImage({ diskSize: DISK, subtype: 'Undoable', writes }));
    const parent = async () => {
      const baseSource = new MemorySource(base, { writable: false });
      return new BlockDevice(
        rawStandIn,
        await rawStandIn.open(baseSource, { writable: false, options: {} }),
        baseSource,
      );
    };
    return {
      source,
      expected,
      options: { base: 'disk.img', 'base-format': 'raw' },
      reopen: () => new MemorySource(source.bytes),
      parent,
    };
  };
}

runDriverConformance({
  name: 'bochs-redolog over a flat base, sectors partly written',
  driver: new BochsRedologDriver(),
  makeImage: redologCase([
    { offset: 512 * 3, data: sectors(2, 1) },
    { offset: 4096 * 5 - 1024, data: sectors(6, 2) },
    { offset: 4096 * 9, data: sectors(8, 3) },
    { offset: DISK - 512, data: sectors(1, 4) },
  ]),
});

runDriverConformance({
  name: 'bochs-redolog, empty: every sector from the base',
  driver: new BochsRedologDriver(),
  makeImage: redologCase([]),
});
