// @ts-check
import { CLUSTER_SIZE, HEADER_SIZE, MAGIC, UNALLOCATED } from './layout.js';

/**
 * Writes an example image from the disk it should hold, without the driver: the clusters
 * that are all zeros become holes. The tests compare the driver's reads with `disk`.
 * @param {Uint8Array} disk a multiple of 4096 bytes
 * @returns {Uint8Array} the image file
 */
export function buildExampleImage(disk) {
  const clusters = disk.length / CLUSTER_SIZE;
  const tableSize = Math.ceil((clusters * 4) / 512) * 512;
  const allocated = [];
  for (let i = 0; i < clusters; i++) {
    if (disk.subarray(i * CLUSTER_SIZE, (i + 1) * CLUSTER_SIZE).some((b) => b !== 0)) allocated.push(i);
  }
  const file = new Uint8Array(HEADER_SIZE + tableSize + allocated.length * CLUSTER_SIZE);
  const view = new DataView(file.buffer);
  file.set(new TextEncoder().encode(MAGIC), 0);
  view.setUint32(8, 1, true);
  view.setUint32(12, clusters, true);
  for (let i = 0; i < clusters; i++) view.setUint32(HEADER_SIZE + i * 4, UNALLOCATED, true);
  // Stored in reverse order, so that the file order is not the disk's.
  allocated.reverse().forEach((cluster, slot) => {
    view.setUint32(HEADER_SIZE + cluster * 4, slot, true);
    file.set(
      disk.subarray(cluster * CLUSTER_SIZE, (cluster + 1) * CLUSTER_SIZE),
      HEADER_SIZE + tableSize + slot * CLUSTER_SIZE,
    );
  });
  return file;
}
