/**
 * A Bochs image's allocation read straight from its catalog and bitmaps, written from the
 * spec (FORMAT.md §2-3) with no vdisk code, so it can judge what `vdisk map` says.
 */
/** One entry of `qemu-img map --output=json`. */
export interface MapEntry {
  start: number;
  length: number;
  depth: number;
  present: boolean;
  zero: boolean;
  data: boolean;
  offset?: number;
}

/**
 * The allocation of a Bochs image, from its bytes: per 512-byte sector, written (at its
 * file offset) or not, merged as qemu-img map merges (same kind, contiguous in the file).
 */
export function bochsAllocation(file: Uint8Array): MapEntry[] {
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const headerSize = view.getUint32(0x44, true);
  const catalogSize = view.getUint32(0x48, true);
  const bitmapSize = view.getUint32(0x4c, true);
  const extentSize = view.getUint32(0x50, true);
  const disk = Number(view.getBigUint64(0x58, true)); // v2, as bximage writes
  const sectors = Math.floor(disk / 512);
  const dataOffset = headerSize + 4 * catalogSize;
  const bitmapBlocks = Math.ceil(bitmapSize / 512);
  const stride = 512 * (bitmapBlocks + extentSize / 512);
  const perExtent = extentSize / 512;

  const entries: MapEntry[] = [];
  const push = (start: number, data: boolean, offset?: number) => {
    const last = entries[entries.length - 1];
    if (
      last &&
      last.data === data &&
      last.start + last.length === start &&
      (data ? last.offset !== undefined && offset !== undefined && last.offset + last.length === offset : true)
    ) {
      last.length += 512;
      return;
    }
    // A growing image has no parent: its holes are present and zero (CONTRACT.md, map).
    const entry: MapEntry = { start, length: 512, depth: 0, present: true, zero: !data, data };
    if (data) entry.offset = offset;
    entries.push(entry);
  };
  for (let s = 0; s < sectors; s++) {
    const extent = Math.floor(s / perExtent);
    const within = s % perExtent;
    const slot = view.getUint32(headerSize + 4 * extent, true);
    if (slot === 0xffffffff) {
      push(s * 512, false);
      continue;
    }
    const slotStart = dataOffset + slot * stride;
    const bit = ((file[slotStart + (within >> 3)] ?? 0) >> (within & 7)) & 1;
    if (bit) push(s * 512, true, slotStart + 512 * bitmapBlocks + within * 512);
    else push(s * 512, false);
  }
  return entries;
}
