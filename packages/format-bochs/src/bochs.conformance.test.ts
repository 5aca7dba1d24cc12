import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource } from '@vdisk/core';
import { FileSource } from '@vdisk/core/node';
import { afterAll } from 'vitest';
import { BochsDriver } from './bochs-driver.js';
import { type BochsImageSpec, buildBochsImage } from './testing/index.js';

/** The disk a spec stands for: its writes laid over zeros (no driver involved). */
function bochsCase(spec: BochsImageSpec) {
  return () => {
    const expected = new Uint8Array(Math.floor(Number(spec.diskSize) / 512) * 512);
    for (const { offset, data } of spec.writes ?? []) expected.set(data, offset);
    const source = new MemorySource(buildBochsImage(spec));
    return { source, expected, reopen: () => new MemorySource(source.bytes) };
  };
}

const sectors = (count: number, seed: number) => {
  const data = new Uint8Array(count * 512);
  for (let i = 0; i < data.length; i++) data[i] = ((i * 7 + seed * 13) % 255) + 1;
  return data;
};

// Extents of 4 KiB (8 sectors): runs that start and end inside extents, whole extents,
// runs across extent boundaries, and a last extent written in its last sector only.
const writes = [
  { offset: 512 * 3, data: sectors(2, 1) },
  { offset: 4096 * 5 - 1024, data: sectors(6, 2) },
  { offset: 4096 * 9, data: sectors(8, 3) },
  { offset: 4096 * 40 + 512 * 7, data: sectors(1, 4) },
  { offset: 4096 * 20, data: sectors(1, 5) },
  { offset: 1032192 - 512, data: sectors(1, 6) },
];

runDriverConformance({
  name: 'bochs v2, extents partly written',
  driver: new BochsDriver(),
  makeImage: bochsCase({ diskSize: 1032192, writes }),
});

runDriverConformance({
  name: 'bochs v1',
  driver: new BochsDriver(),
  makeImage: bochsCase({ diskSize: 1032192, version: 1, writes }),
});

runDriverConformance({
  name: 'bochs, bximage sizing for 10 MB (16 KiB extents, 4-byte bitmaps)',
  driver: new BochsDriver(),
  makeImage: bochsCase({
    diskSize: 10321920,
    writes: [
      { offset: 0, data: sectors(64, 7) },
      { offset: 16384 * 100 + 512 * 31, data: sectors(3, 8) },
      { offset: 10321920 - 16384, data: sectors(32, 9) },
    ],
  }),
  maxReadLength: 256 * 1024,
});

runDriverConformance({
  name: 'bochs, empty (every extent unallocated)',
  driver: new BochsDriver(),
  makeImage: bochsCase({ diskSize: 1032192 }),
});

// The same image from a real file, opened writable: concurrent reads and writes then really
// overlap in the kernel, and the flush check reopens the file to find its writes there.
const dir = mkdtempSync(join(tmpdir(), 'vdisk-bochs-conformance-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
runDriverConformance({
  name: 'bochs, from a file',
  driver: new BochsDriver(),
  makeImage: async () => {
    const { expected, source } = bochsCase({ diskSize: 1032192, writes })();
    const path = join(dir, 'image.bochs');
    const bytes = new Uint8Array(source.size);
    await source.read(bytes, 0);
    writeFileSync(path, bytes);
    return { source: await FileSource.open(path, { writable: true }), expected, reopen: () => FileSource.open(path) };
  },
});
