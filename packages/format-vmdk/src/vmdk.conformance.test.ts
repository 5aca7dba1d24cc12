import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource } from '@vdisk/core';
import { createImage } from './create-image.js';
import { FIELD } from './header.js';
import { VmdkDriver } from './vmdk-driver.js';

const GRAIN = 65536;

function grainData(index: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = ((i * 13 + index * 7) % 251) + 1;
  return data;
}

/**
 * A monolithicSparse VMDK laid out by hand from the spec (not by the driver's writes): grain
 * `order[k]` is the k-th grain after the tables, entered in both grain tables; `zeroed`
 * grains have entry 1 (with the zeroed-grain flag).
 */
async function vmdkImage(size: number, order: number[], zeroed: number[] = []) {
  const empty = new MemorySource();
  await createImage(empty, { virtualSize: size, options: zeroed.length > 0 ? { zeroed_grain: 'on' } : {} });
  const head = empty.bytes.slice();
  const file = new Uint8Array(head.length + order.length * GRAIN);
  file.set(head);
  const view = new DataView(file.buffer);
  const tableOf = (gdField: number) => view.getUint32(Number(view.getBigUint64(gdField, true)) * 512, true) * 512;
  const tables = [tableOf(FIELD.gdOffset), tableOf(FIELD.rgdOffset)];
  const expected = new Uint8Array(size);
  order.forEach((index, k) => {
    const at = head.length + k * GRAIN;
    for (const table of tables) view.setUint32(table + index * 4, at / 512, true);
    const data = grainData(index, Math.min(GRAIN, size - index * GRAIN));
    file.set(data, at);
    expected.set(data, index * GRAIN);
  });
  for (const index of zeroed) for (const table of tables) view.setUint32(table + index * 4, 1, true);
  return () => {
    const source = new MemorySource(file.slice());
    return { source, expected: expected.slice(), reopen: () => new MemorySource(source.bytes) };
  };
}

runDriverConformance({
  name: 'vmdk, grains out of order and holes',
  driver: new VmdkDriver(),
  makeImage: await vmdkImage(12 * GRAIN + 1536, [5, 0, 12, 6]),
  maxReadLength: 256 * 1024,
});

runDriverConformance({
  name: 'vmdk, zeroed grains',
  driver: new VmdkDriver(),
  makeImage: await vmdkImage(8 * GRAIN, [1, 2], [3, 5]),
});

runDriverConformance({
  name: 'vmdk, empty',
  driver: new VmdkDriver(),
  makeImage: await vmdkImage(4 * GRAIN, []),
});
