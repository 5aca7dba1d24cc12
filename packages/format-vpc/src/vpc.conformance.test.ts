import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource, Registry } from '@vdisk/core';
import { BLOCK_SIZE, buildDynamicHeader, buildFooter, vhdLayout } from './create-image.js';
import {
  type CraftedImage,
  craftImage,
  dynamicDisk,
  mergedDisk,
  sectorPattern,
  utf16,
} from './differencing-image.fixture.js';
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

/**
 * A differencing disk over a dynamic parent, both written from the spec by the fixture (not
 * by the driver): the child's sectors scattered over blocks the parent has and has not, one
 * block allocated with every bit clear, blocks the child lacks.
 */
function differencingImage() {
  const block = 64 * 1024;
  const size = 6 * block + 4096;
  const perBlock = block / 512;
  const uuid = new Uint8Array(16).fill(0x42);
  const parent: CraftedImage = {
    virtualSize: size,
    blockSize: block,
    diskType: 3,
    uuid,
    filler: 0x61,
    sectors: [0, 7, perBlock + 3, 4 * perBlock].map((sector) => ({ sector, data: sectorPattern(sector, 5) })),
  };
  const child: CraftedImage = {
    virtualSize: size,
    blockSize: block,
    diskType: 4,
    uuid: new Uint8Array(16).fill(0x43),
    parentUuid: uuid,
    parentName: 'parent.vhd',
    locators: [{ code: 'W2ru', data: utf16('.\\parent.vhd', true) }],
    sectors: [1, 2, 7, perBlock - 1, 2 * perBlock + 9, 6 * perBlock + 7].map((sector) => ({
      sector,
      data: sectorPattern(sector, 6),
    })),
    emptyBlocks: [4],
  };
  const parentFile = craftImage(parent);
  const file = craftImage(child);
  const expected = mergedDisk(child, dynamicDisk(parent));
  return () => {
    const source = new MemorySource(file.slice());
    return {
      source,
      expected: expected.slice(),
      reopen: () => new MemorySource(source.bytes),
      parent: () => new Registry([new VpcDriver()]).open(new MemorySource(parentFile), { format: 'vpc' }),
    };
  };
}

runDriverConformance({
  name: 'vpc differencing over a dynamic parent',
  driver: new VpcDriver(),
  makeImage: differencingImage(),
});
