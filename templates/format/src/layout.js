// @ts-check
import { ImageFormatError } from '@vdisk/core';

/**
 * The example format, little-endian:
 *   0   magic "VDSKEXMP" (8 bytes)
 *   8   uint32 version, 1
 *   12  uint32 clusters: the virtual disk is clusters * 4096 bytes
 *   512 the cluster table: one uint32 per virtual cluster, the index of its cluster in the
 *       data area, or 0xFFFFFFFF for a hole (reads as zeros)
 *   then, from the next multiple of 512, the data area: 4096-byte clusters
 */
export const MAGIC = 'VDSKEXMP';
export const HEADER_SIZE = 512;
export const CLUSTER_SIZE = 4096;
export const UNALLOCATED = 0xffffffff;
/** At most 1M clusters (4 GiB of disk): a 4 MiB table, the most an open allocates. */
export const MAX_CLUSTERS = 1 << 20;

/**
 * @param {Uint8Array} bytes the first 512 bytes
 * @returns {{ clusters: number }}
 */
export function parseHeader(bytes) {
  if (new TextDecoder('latin1').decode(bytes.subarray(0, 8)) !== MAGIC) {
    throw new ImageFormatError('Image not in example format');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint32(8, true);
  if (version !== 1) throw new ImageFormatError(`Unsupported example format version ${version}`);
  return { clusters: view.getUint32(12, true) };
}
