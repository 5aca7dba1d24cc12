import { runDriverConformance } from '@vdisk/conformance';
import { MemorySource } from '@vdisk/core';
import { BochsSparseDriver } from './sparse-driver.js';
import { buildSparseImage, type SparseImageSpec } from './testing/index.js';

/** The disk a spec stands for: its pages laid over zeros (no driver involved). */
function sparseCase(spec: SparseImageSpec) {
  return () => {
    const pageSize = spec.pageSize ?? 32768;
    const expected = new Uint8Array(spec.diskSize);
    for (const { page, data } of spec.pages ?? []) {
      expected.set(
        data.subarray(0, Math.max(0, Math.min(data.length, spec.diskSize - page * pageSize))),
        page * pageSize,
      );
    }
    const source = new MemorySource(buildSparseImage(spec));
    return { source, expected, reopen: () => new MemorySource(source.bytes) };
  };
}

const page = (size: number, seed: number) => {
  const data = new Uint8Array(size);
  for (let i = 0; i < size; i++) data[i] = ((i * 7 + seed * 13) % 255) + 1;
  return data;
};

runDriverConformance({
  name: 'bochs-sparse, 32 KiB pages out of order',
  driver: new BochsSparseDriver(),
  makeImage: sparseCase({
    diskSize: 1032192,
    pages: [
      { page: 5, data: page(32768, 1) },
      { page: 0, data: page(32768, 2) },
      { page: 6, data: page(32768, 3) },
      { page: 31, data: page(32768, 4) }, // the last page, cut by the disk's end
    ],
  }),
  maxReadLength: 128 * 1024,
});

runDriverConformance({
  name: 'bochs-sparse, 512-byte pages, consecutive in the file',
  driver: new BochsSparseDriver(),
  makeImage: sparseCase({
    diskSize: 64 * 1024,
    pageSize: 512,
    pages: [3, 4, 5, 9, 100, 127].map((p, i) => ({ page: p, data: page(512, i + 5) })),
  }),
});

runDriverConformance({
  name: 'bochs-sparse, empty (bximage 10M)',
  driver: new BochsSparseDriver(),
  makeImage: sparseCase({ diskSize: 10321920 }),
});
