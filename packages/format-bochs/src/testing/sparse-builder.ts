/**
 * Builds Bochs sparse images in memory from the layout (BOCHS-FAMILY.md §4), sharing no
 * code with the driver, so tests can make any image, valid or hostile.
 */
export interface SparseImageSpec {
  /** v2's disk field (v1: none). */
  diskSize: number;
  pageSize?: number;
  /** Default: bximage's, diskSize / pageSize + 1. */
  pageCount?: number;
  version?: number;
  /** Virtual pages to store, in the order they go into the file, with their bytes (a page's length or less). */
  pages?: ReadonlyArray<{ page: number; data: Uint8Array }>;
  /** Raw table entries to set after the pages are placed (hostile images). */
  entries?: ReadonlyArray<{ page: number; entry: number }>;
  magic?: number;
}

export function buildSparseImage(spec: SparseImageSpec): Uint8Array {
  const pageSize = spec.pageSize ?? 32768;
  const pageCount = spec.pageCount ?? Math.floor(spec.diskSize / pageSize) + 1;
  const preamble = 256 + 4 * pageCount;
  const dataStart = Math.ceil(preamble / pageSize) * pageSize;
  const pages = spec.pages ?? [];
  const bytes = new Uint8Array(Math.max(dataStart + pages.length * pageSize, preamble));
  const view = new DataView(bytes.buffer);
  view.setUint32(0, spec.magic ?? 0x02468ace, true);
  view.setUint32(4, spec.version ?? 2, true);
  view.setUint32(8, pageSize, true);
  view.setUint32(12, pageCount, true);
  if ((spec.version ?? 2) === 2) view.setBigUint64(16, BigInt(spec.diskSize), true);
  for (let i = 0; i < pageCount; i++) view.setUint32(256 + 4 * i, 0xffffffff, true);
  pages.forEach(({ page, data }, physical) => {
    view.setUint32(256 + 4 * page, physical, true);
    bytes.set(data, dataStart + physical * pageSize);
  });
  for (const { page, entry } of spec.entries ?? []) view.setUint32(256 + 4 * page, entry, true);
  return bytes;
}
