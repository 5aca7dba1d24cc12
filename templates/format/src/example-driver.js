// @ts-check
import { appendRun, exactOffset, ImageFormatError, InvalidArgumentError, IoVector, readSource } from '@vdisk/core';
import { CLUSTER_SIZE, HEADER_SIZE, MAGIC, MAX_CLUSTERS, parseHeader, UNALLOCATED } from './layout.js';

/**
 * @typedef {import('@vdisk/core').BlockDriver<ExampleImage>} ExampleBlockDriver
 * @typedef {import('@vdisk/core').BlockStatusRun} BlockStatusRun
 * @typedef {import('@vdisk/core').ByteSource} ByteSource
 * @typedef {import('@vdisk/core').DriverImage} DriverImage
 */

/**
 * An open "example" image. The driver only maps the virtual disk to bytes of the file:
 * core has already padded each request to `requestAlignment` and checked it lies inside
 * the disk, so `readv` never sees an unaligned or out-of-range request.
 * @implements {DriverImage}
 */
export class ExampleImage {
  /**
   * @param {ByteSource} source
   * @param {Uint32Array} table the file cluster of each virtual cluster, or UNALLOCATED
   * @param {number} dataStart where cluster 0 of the file's data begins
   */
  constructor(source, table, dataStart) {
    this.source = source;
    this.table = table;
    this.dataStart = dataStart;
    // A multiple of the alignment, as core requires: whole clusters.
    this.virtualSize = table.length * CLUSTER_SIZE;
    this.requestAlignment = 512;
  }

  /**
   * Where virtual `offset` lies in the file, or undefined in a hole. exactOffset turns a
   * table entry (untrusted, up to 2^32 clusters) into an exact file offset, or an error.
   * @param {number} offset
   */
  fileOffset(offset) {
    const entry = /** @type {number} */ (this.table[Math.floor(offset / CLUSTER_SIZE)]);
    if (entry === UNALLOCATED) return undefined;
    const cluster = BigInt(this.dataStart) + BigInt(entry) * BigInt(CLUSTER_SIZE);
    return exactOffset(cluster + BigInt(offset % CLUSTER_SIZE), 'Data offset');
  }

  /**
   * @param {number} offset
   * @param {readonly Uint8Array[]} buffers
   */
  async readv(offset, buffers) {
    // The buffers as one run of bytes: cut it at cluster boundaries, wherever a buffer ends.
    const vector = new IoVector(buffers);
    for (let done = 0; done < vector.length; ) {
      const at = offset + done;
      const length = Math.min(CLUSTER_SIZE - (at % CLUSTER_SIZE), vector.length - done);
      const fileOffset = this.fileOffset(at);
      if (fileOffset === undefined) vector.zero(done, length);
      // One scattered read (one preadv on a file) for the part of the request in this cluster.
      else await readSource(this.source, vector.slices(done, length), fileOffset);
      done += length;
    }
  }

  async close() {}
}

/** @implements {ExampleBlockDriver} */
export class ExampleDriver {
  name = 'example';
  description = 'Example format: a header, a cluster table, and the allocated clusters';

  /** @param {Uint8Array} firstSector */
  probe(firstSector) {
    const magic = new TextDecoder('latin1').decode(firstSector.subarray(0, MAGIC.length));
    return magic === MAGIC ? 100 : 0;
  }

  /**
   * Reads and checks the header and the table; every failure is a VdiskError.
   * @param {ByteSource} source
   * @param {import('@vdisk/core').DriverOpenOptions} options
   */
  async open(source, { options }) {
    // A driver without `write` is read-only: core refuses a writable open before this runs.
    const unknown = Object.keys(options)[0];
    if (unknown !== undefined) {
      throw new InvalidArgumentError(`Block format 'example' does not support the option '${unknown}'`);
    }
    const headerBytes = new Uint8Array(HEADER_SIZE);
    await source.read(headerBytes, 0); // past the end of the file, a source reads zeros
    const header = parseHeader(headerBytes);
    // Bounded: the table is the one allocation an open makes, and its size is checked first.
    if (header.clusters > MAX_CLUSTERS) throw new ImageFormatError('Image is too large for the example format');
    const table = new Uint32Array(header.clusters);
    const tableBytes = new Uint8Array(table.buffer);
    await source.read(tableBytes, HEADER_SIZE);
    const view = new DataView(tableBytes.buffer);
    for (let i = 0; i < table.length; i++) table[i] = view.getUint32(i * 4, true);
    const dataStart = HEADER_SIZE + Math.ceil((header.clusters * 4) / 512) * 512;
    return new ExampleImage(source, table, dataStart);
  }

  /**
   * The allocation map: data where a cluster is allocated (at its place in the file), holes
   * elsewhere. appendRun merges a run into the previous one when they continue each other.
   * @param {ExampleImage} image
   * @param {number} offset
   * @param {number} length
   */
  async blockStatus(image, offset, length) {
    /** @type {BlockStatusRun[]} */
    const runs = [];
    for (let at = offset; at < offset + length; ) {
      const size = Math.min(CLUSTER_SIZE - (at % CLUSTER_SIZE), offset + length - at);
      const fileOffset = image.fileOffset(at);
      appendRun(
        runs,
        fileOffset === undefined
          ? { offset: at, length: size, data: false }
          : { offset: at, length: size, data: true, fileOffset },
      );
      at += size;
    }
    return runs;
  }
}
