import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource } from '@vdisk/core';
import { BLOCK_SIZE, buildDynamicHeader, buildFooter, vhdLayout } from './create-image.js';
import { DISK_DYNAMIC, DISK_FIXED, SECTOR_SIZE } from './footer.js';
import { VpcDriver } from './vpc-driver.js';

/** Seeded-looking bytes for block `index` (never a zero sector). */
function blockData(index: number, length: number): Uint8Array {
  const data = new Uint8Array(length);
  for (let i = 0; i < length; i++) data[i] = ((i * 7 + index * 31) % 251) + 1;
  return data;
}

/**
 * A dynamic VHD laid out by hand from the spec (not by the driver's writes): the blocks in
 * `order` get places in the file in that order, so the BAT is not the identity.
 */
function dynamicImage(size: number, order: number[]) {
  const layout = vhdLayout(size, true);
  const entries = Math.ceil(size / BLOCK_SIZE);
  const batBytes = Math.ceil((entries * 4) / SECTOR_SIZE) * SECTOR_SIZE;
  const dataStart = 1536 + batBytes;
  const bitmap = 512;
  const file = new Uint8Array(dataStart + order.length * (bitmap + BLOCK_SIZE) + 512);
  const footer = buildFooter(layout, DISK_DYNAMIC, 'qem2');
  file.set(footer, 0);
  file.set(buildDynamicHeader(entries), 512);
  const bat = new DataView(file.buffer, 1536, batBytes);
  for (let i = 0; i < batBytes / 4; i++) bat.setUint32(i * 4, 0xffffffff);
  const expected = new Uint8Array(size);
  order.forEach((index, slot) => {
    const at = dataStart + slot * (bitmap + BLOCK_SIZE);
    bat.setUint32(index * 4, at / SECTOR_SIZE);
    file.fill(0xff, at, at + bitmap);
    const length = Math.min(BLOCK_SIZE, size - index * BLOCK_SIZE);
    const data = blockData(index, length);
    file.set(data, at + bitmap);
    expected.set(data, index * BLOCK_SIZE);
  });
  file.set(footer, file.length - 512);
  return () => {
    const source = new MemorySource(file.slice());
    return { source, expected: expected.slice(), reopen: () => new MemorySource(source.bytes) };
  };
}

function fixedImage(size: number) {
  const expected = blockData(3, size);
  const file = new Uint8Array(size + 512);
  file.set(expected);
  file.set(buildFooter(vhdLayout(size, true), DISK_FIXED, 'qem2'), size);
  return () => {
    const source = new MemorySource(file.slice());
    return { source, expected: expected.slice(), reopen: () => new MemorySource(source.bytes) };
  };
}

runDriverConformance({
  name: 'vpc dynamic, blocks out of order and holes',
  driver: new VpcDriver(),
  makeImage: dynamicImage(5 * 1024 * 1024 + 4096, [2, 0]),
  maxReadLength: 256 * 1024,
});

runDriverConformance({
  name: 'vpc dynamic, empty',
  driver: new VpcDriver(),
  makeImage: dynamicImage(3 * 1024 * 1024, []),
});

runDriverConformance({
  name: 'vpc fixed',
  driver: new VpcDriver(),
  makeImage: fixedImage(1024 * 1024 + 1536),
});
