import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource } from '@vdisk/core';
import { createImage } from './create-image.js';
import { BLOCK_SIZE, DISCARDED, FIELD } from './header.js';
import { VdiDriver } from './vdi-driver.js';

function blockData(index: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = ((i * 11 + index * 17) % 251) + 1;
  return data;
}

/**
 * A VDI laid out by hand from the spec (not by the driver's writes): block `order[k]` is data
 * block `k`, so the map is not the identity; `discarded` blocks have the 0xfffffffe entry.
 */
async function vdiImage(size: number, order: number[], discarded: number[] = [], isStatic = false) {
  const empty = new MemorySource();
  await createImage(empty, { virtualSize: size, options: isStatic ? { static: 'on' } : {} });
  const head = empty.bytes.slice();
  const view = new DataView(head.buffer);
  const offsetData = view.getUint32(FIELD.offsetData, true);
  const blocks = Math.ceil(size / BLOCK_SIZE);
  const file = new Uint8Array(offsetData + (isStatic ? blocks : order.length) * BLOCK_SIZE);
  file.set(head.subarray(0, Math.min(head.length, file.length)));
  const map = new DataView(file.buffer);
  const expected = new Uint8Array(size);
  const placed = isStatic ? Array.from({ length: blocks }, (_, i) => i) : order;
  placed.forEach((index, slot) => {
    map.setUint32(512 + index * 4, slot, true);
    const data = blockData(index, Math.min(BLOCK_SIZE, size - index * BLOCK_SIZE));
    file.set(data, offsetData + slot * BLOCK_SIZE);
    expected.set(data, index * BLOCK_SIZE);
  });
  for (const index of discarded) map.setUint32(512 + index * 4, DISCARDED, true);
  map.setUint32(FIELD.blocksAllocated, placed.length, true);
  return () => {
    const source = new MemorySource(file.slice());
    return { source, expected: expected.slice(), reopen: () => new MemorySource(source.bytes) };
  };
}

runDriverConformance({
  name: 'vdi dynamic, blocks out of order, a discarded block and holes',
  driver: new VdiDriver(),
  makeImage: await vdiImage(4 * BLOCK_SIZE + 1536, [3, 1, 4], [2]),
  maxReadLength: 256 * 1024,
});

runDriverConformance({
  name: 'vdi dynamic, empty',
  driver: new VdiDriver(),
  makeImage: await vdiImage(2 * BLOCK_SIZE, []),
});

runDriverConformance({
  name: 'vdi static',
  driver: new VdiDriver(),
  makeImage: await vdiImage(2 * BLOCK_SIZE + 512, [], [], true),
});
