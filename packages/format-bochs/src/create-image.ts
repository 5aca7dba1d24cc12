import { type ByteSource, type CreateOptions, InvalidArgumentError, ReadOnlyError } from '@vdisk/core';
import { SECTOR_SIZE, UNALLOCATED } from './geometry.js';
import { encodeHeader, HEADER_SIZE } from './header.js';
import { bximageGeometry, geometryForExtent, type NewImageGeometry } from './new-image-geometry.js';

/** The creation options of `-f bochs` (qemu-img create -o). */
const CREATE_OPTIONS = ['extent_size'] as const;

/**
 * Writes a new, empty growing image onto `target`, byte-identical to
 * `bximage -func=create -imgmode=growing` for the same disk size: the header and a catalog
 * of 0xFFFFFFFF, no slots, in one write. The virtual size is rounded up to 512 bytes.
 */
export async function createImage(target: ByteSource, { virtualSize, options }: CreateOptions): Promise<void> {
  const unknown = Object.keys(options).find((key) => !(CREATE_OPTIONS as readonly string[]).includes(key));
  if (unknown !== undefined) throw new InvalidArgumentError(`Invalid parameter '${unknown}'`);
  if (!Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw new InvalidArgumentError(`Invalid image size ${virtualSize}`);
  }
  const diskSize = Math.ceil(virtualSize / SECTOR_SIZE) * SECTOR_SIZE;
  const extentOption = options.extent_size;
  const geometry: NewImageGeometry =
    extentOption === undefined ? bximageGeometry(diskSize) : geometryForExtent(diskSize, parseSize(extentOption));

  const image = new Uint8Array(HEADER_SIZE + 4 * geometry.catalogSize);
  image.set(encodeHeader({ ...geometry, diskSize }), 0);
  // Every entry UNALLOCATED: 0xFF in every byte, whatever the host's byte order.
  image.fill(UNALLOCATED & 0xff, HEADER_SIZE);
  if (!target.write) throw new ReadOnlyError('The target of the new image cannot be written');
  await target.write(image, 0);
  // A target that was not empty keeps no tail: it would read as orphan slots.
  if (target.size > image.length) await target.truncate?.(image.length);
}

/** A size as qemu-img's -o takes it: bytes, or with a k, M, G suffix (powers of 1024). */
function parseSize(text: string): number {
  const match = /^(\d+)([kKMG]?)$/.exec(text.trim());
  const scale = { '': 1, k: 1024, K: 1024, M: 1024 ** 2, G: 1024 ** 3 }[match?.[2] ?? ''] ?? 1;
  const value = match ? Number(match[1]) * scale : Number.NaN;
  if (!Number.isSafeInteger(value)) {
    throw new InvalidArgumentError(`Parameter 'extent_size' expects a size, not '${text}'`);
  }
  return value;
}
