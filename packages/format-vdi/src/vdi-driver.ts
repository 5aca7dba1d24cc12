import {
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  type CheckReport,
  type CreateOptions,
  type DriverOpenOptions,
  ImageFormatError,
  InvalidArgumentError,
  type WriteOptions,
  type ZeroOptions,
} from '@vdisk/core';
import { checkImage } from './check.js';
import { createImage } from './create-image.js';
import { DISCARDED, HEADER_SIZE, hasSignature, parseHeader, type VdiHeader } from './header.js';
import { VdiImage } from './vdi-image.js';

/** VirtualBox VDI images, dynamic and static: a port of QEMU 7.2's block/vdi.c. */
export class VdiDriver implements BlockDriver<VdiImage> {
  readonly name = 'vdi';
  readonly description = 'VirtualBox disk image (VDI), dynamic and static';

  /** 100 for the signature 0xbeda107f at offset 64 (vdi_probe; the format has no checksum), else 0. */
  probe(firstSector: Uint8Array): number {
    return hasSignature(firstSector) ? 100 : 0;
  }

  /** vdi_open: its checks in its order, with its messages. */
  async open(source: ByteSource, { writable, options }: DriverOpenOptions): Promise<VdiImage> {
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'vdi' does not support the option '${unknown}'`);
    }
    const sector = new Uint8Array(HEADER_SIZE);
    await source.read(sector, 0);
    const header = parseHeader(sector);
    // QEMU reads the whole map (whole sectors); what lies past the end of the file reads as
    // zeros. Only the part in the file is read and held: the rest is known to be 0.
    const inFile = Math.max(0, Math.min(header.blocksInImage, Math.ceil((source.size - header.offsetBmap) / 4)));
    const bmap = new Uint32Array(inFile);
    if (inFile > 0) {
      const bytes = new Uint8Array(bmap.buffer);
      await source.read(bytes, header.offsetBmap);
      const view = new DataView(bmap.buffer);
      for (let i = 0; i < inFile; i++) bmap[i] = view.getUint32(i * 4, true);
    }
    if (writable) assertWritable(header, bmap);
    return new VdiImage(source, header, bmap, writable);
  }

  write(image: VdiImage, offset: number, buffers: readonly Uint8Array[], options?: WriteOptions): Promise<void> {
    return image.write(offset, buffers, options);
  }

  flush(image: VdiImage): Promise<void> {
    return image.flush();
  }

  zero(image: VdiImage, offset: number, length: number, _options?: ZeroOptions): Promise<void> {
    return image.zero(offset, length);
  }

  create(target: ByteSource, options: CreateOptions): Promise<void> {
    return createImage(target, options);
  }

  blockStatus(image: VdiImage, offset: number, length: number): Promise<BlockStatusRun[]> {
    return image.blockStatus(offset, length);
  }

  check(image: VdiImage): Promise<CheckReport> {
    return checkImage(image);
  }
}

/**
 * Writing allocates block `blocks_allocated` next, as QEMU does: a block map that is cut
 * short by the end of the file, or an entry at or past that count, would make a new block
 * land on data in use. Such an image opens read-only only (`check` names the entries).
 */
function assertWritable(header: VdiHeader, bmap: Uint32Array): void {
  if (bmap.length < header.blocksInImage) {
    throw new ImageFormatError('Cannot write this VDI image: its block map is cut short by the end of the file');
  }
  for (let i = 0; i < bmap.length; i++) {
    const entry = bmap[i] as number;
    if (entry < DISCARDED && entry >= header.blocksAllocated) {
      throw new ImageFormatError(`Cannot write this VDI image: block index ${i} too large, is ${entry} (run check)`);
    }
  }
}
