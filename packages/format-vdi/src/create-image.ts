import { type ByteSource, type CreateOptions, InvalidArgumentError, ReadOnlyError, writeSource } from '@vdisk/core';
import {
  BLOCK_SIZE,
  DISK_SIZE_MAX,
  FIELD,
  HEADER_SIZE,
  QEMU_TEXT,
  SECTOR_SIZE,
  SIGNATURE,
  TYPE_DYNAMIC,
  TYPE_STATIC,
  UNALLOCATED,
  VERSION_1_1,
} from './header.js';

/** The creation options of `-f vdi` (qemu-img create -o), as QEMU 7.2 names them. */
export const CREATE_OPTIONS = ['static'] as const;

/**
 * A new, empty VDI on `target`, as QEMU 7.2's vdi_co_do_create makes it: the header (text,
 * signature, version 1.1, header size 0x180, block map at 0x200, random image and snapshot
 * UUIDs), then the block map (0xffffffff per block, or with `static=on` block `i` at index
 * `i`, and the file extended to hold every block).
 */
export async function createImage(target: ByteSource, { virtualSize, options }: CreateOptions): Promise<void> {
  const unknown = Object.keys(options).find((key) => !(CREATE_OPTIONS as readonly string[]).includes(key));
  if (unknown !== undefined) throw new InvalidArgumentError(`Invalid parameter '${unknown}'`);
  if (!target.write) throw new ReadOnlyError('The target of the new image cannot be written');
  const flag = options.static ?? 'off';
  if (flag !== 'on' && flag !== 'off') throw new InvalidArgumentError("Parameter 'static' expects 'on' or 'off'");
  const isStatic = flag === 'on';
  // QEMU rounds the size up to a sector, then refuses what a block map cannot describe.
  const size = Math.ceil(virtualSize / SECTOR_SIZE) * SECTOR_SIZE;
  if (BigInt(size) > DISK_SIZE_MAX) {
    throw new InvalidArgumentError(
      `Unsupported VDI image size (size is 0x${size.toString(16)}, max supported is 0x${DISK_SIZE_MAX.toString(16)})`,
    );
  }
  const blocks = Math.ceil(size / BLOCK_SIZE);
  const bmapSize = Math.ceil((blocks * 4) / SECTOR_SIZE) * SECTOR_SIZE;

  const header = new Uint8Array(HEADER_SIZE);
  const v = new DataView(header.buffer);
  for (let i = 0; i < QEMU_TEXT.length; i++) header[FIELD.text + i] = QEMU_TEXT.charCodeAt(i);
  v.setUint32(FIELD.signature, SIGNATURE, true);
  v.setUint32(FIELD.version, VERSION_1_1, true);
  v.setUint32(FIELD.headerSize, 0x180, true);
  v.setUint32(FIELD.imageType, isStatic ? TYPE_STATIC : TYPE_DYNAMIC, true);
  v.setUint32(FIELD.offsetBmap, 0x200, true);
  v.setUint32(FIELD.offsetData, 0x200 + bmapSize, true);
  v.setUint32(FIELD.sectorSize, SECTOR_SIZE, true);
  v.setBigUint64(FIELD.diskSize, BigInt(size), true);
  v.setUint32(FIELD.blockSize, BLOCK_SIZE, true);
  v.setUint32(FIELD.blocksInImage, blocks, true);
  if (isStatic) v.setUint32(FIELD.blocksAllocated, blocks, true);
  globalThis.crypto.getRandomValues(header.subarray(FIELD.uuidImage, FIELD.uuidImage + 16));
  globalThis.crypto.getRandomValues(header.subarray(FIELD.uuidLastSnap, FIELD.uuidLastSnap + 16));

  const bmap = new Uint8Array(bmapSize);
  const map = new DataView(bmap.buffer);
  for (let i = 0; i < blocks; i++) map.setUint32(i * 4, isStatic ? i : UNALLOCATED, true);
  await writeSource(target, [header, bmap], 0);
  if (isStatic && blocks > 0) {
    // Every block's space, as QEMU's truncate makes it (a hole where the target can make one).
    const end = 0x200 + bmapSize + blocks * BLOCK_SIZE;
    if (target.truncate) await target.truncate(end);
    else await writeSource(target, [new Uint8Array(SECTOR_SIZE)], end - SECTOR_SIZE);
  }
}
