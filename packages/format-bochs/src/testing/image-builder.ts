/**
 * Builds Bochs growing images in memory, the way Bochs writes them (FORMAT.md §4, §7), so
 * tests can make any image, valid or hostile, without bximage. It is deliberately
 * written from the spec and shares no code with the driver: a test must not build its
 * expectation with the code under test.
 */

export interface BochsImageSpec {
  /** The disk size field. */
  diskSize: number | bigint;
  version?: 1 | 2;
  /** Defaults follow bximage: 512 entries, 1-byte bitmap, 4 KiB extents, doubled until they cover the disk. */
  catalogSize?: number;
  bitmapSize?: number;
  extentSize?: number;
  headerSize?: number;
  subtype?: string;
  /** v2's FAT timestamp at 0x54; bximage stamps the current time. */
  timestamp?: number;
  /** Sectors to write, as Bochs would: each extent gets the next slot on its first write. */
  writes?: ReadonlyArray<{ offset: number; data: Uint8Array }>;
}

/** The sizes bximage picks for a disk: double the bitmap and the catalog in turn until they cover it. */
export function bximageSizing(diskSize: number): { catalogSize: number; bitmapSize: number; extentSize: number } {
  let catalogSize = 512;
  let bitmapSize = 1;
  let extentSize = 4096;
  let flip = 0;
  while (catalogSize * extentSize < diskSize) {
    if (flip++ % 2 === 0) {
      bitmapSize *= 2;
      extentSize = 4096 * bitmapSize;
    } else {
      catalogSize *= 2;
    }
  }
  return { catalogSize, bitmapSize, extentSize };
}

function putString(bytes: Uint8Array, offset: number, text: string): void {
  for (let i = 0; i < text.length; i++) bytes[offset + i] = text.charCodeAt(i);
}

export function buildBochsImage(spec: BochsImageSpec): Uint8Array {
  const sizing = bximageSizing(Number(spec.diskSize));
  const catalogSize = spec.catalogSize ?? sizing.catalogSize;
  const bitmapSize = spec.bitmapSize ?? sizing.bitmapSize;
  const extentSize = spec.extentSize ?? sizing.extentSize;
  const headerSize = spec.headerSize ?? 512;
  const version = spec.version ?? 2;

  const header = new Uint8Array(512);
  const view = new DataView(header.buffer);
  putString(header, 0x00, 'Bochs Virtual HD Image');
  putString(header, 0x20, 'Redolog');
  putString(header, 0x30, spec.subtype ?? 'Growing');
  view.setUint32(0x40, version === 1 ? 0x00010000 : 0x00020000, true);
  view.setUint32(0x44, headerSize, true);
  view.setUint32(0x48, catalogSize, true);
  view.setUint32(0x4c, bitmapSize, true);
  view.setUint32(0x50, extentSize, true);
  if (version === 1) {
    view.setBigUint64(0x54, BigInt(spec.diskSize), true);
  } else {
    view.setUint32(0x54, spec.timestamp ?? 0, true);
    view.setBigUint64(0x58, BigInt(spec.diskSize), true);
  }

  const catalog = new Uint32Array(catalogSize).fill(0xffffffff);
  const bitmapBytes = Math.ceil(bitmapSize / 512) * 512;
  const slotSize = bitmapBytes + Math.ceil(extentSize / 512) * 512;
  const slots: Uint8Array[] = [];
  for (const write of spec.writes ?? []) {
    if (write.offset % 512 !== 0 || write.data.length % 512 !== 0) throw new Error('writes must be whole sectors');
    for (let done = 0; done < write.data.length; done += 512) {
      const position = write.offset + done;
      const extent = Math.floor(position / extentSize);
      const sector = (position % extentSize) / 512;
      if ((catalog[extent] ?? 0xffffffff) === 0xffffffff) {
        catalog[extent] = slots.length;
        slots.push(new Uint8Array(slotSize));
      }
      const slot = slots[catalog[extent] as number] as Uint8Array;
      slot[sector >> 3] = (slot[sector >> 3] as number) | (1 << (sector & 7));
      slot.set(write.data.subarray(done, done + 512), bitmapBytes + sector * 512);
    }
  }

  const catalogBytes = new Uint8Array(catalogSize * 4);
  const catalogView = new DataView(catalogBytes.buffer);
  for (const [i, entry] of catalog.entries()) catalogView.setUint32(i * 4, entry, true);
  const image = new Uint8Array(Math.max(512, headerSize) + catalogBytes.length + slots.length * slotSize);
  image.set(header, 0);
  image.set(catalogBytes, headerSize);
  let at = headerSize + catalogBytes.length;
  for (const slot of slots) {
    image.set(slot, at);
    at += slotSize;
  }
  return image;
}

/** QEMU's tests/qemu-iotests/sample_images/empty.bochs, as a builder spec: 2560 bytes. */
export const EMPTY_BOCHS_SPEC: BochsImageSpec = {
  diskSize: 1032192,
  catalogSize: 512,
  bitmapSize: 1,
  extentSize: 4096,
};
