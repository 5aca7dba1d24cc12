import { AsyncMutex } from './async-mutex.js';
import { BlockDevice } from './block-device.js';
import type { ByteSource } from './byte-source.js';
import type { BlockDriver, BlockStatusRun, DriverImage } from './driver.js';
import { ReadOnlyError } from './errors.js';
import { exactOffset } from './exact-offset.js';
import { IoVector } from './io-vector.js';
import { readSource } from './read-source.js';

/** The overlay's unit of copy-on-write: 64 KiB, QEMU's default qcow2 cluster (rounded up to the base's alignment). */
export const OVERLAY_CLUSTER_SIZE = 65536;

/**
 * A temporary overlay over any open image: QEMU's `-snapshot`, Bochs's Volatile mode. The
 * device it returns reads as `base` until written; writes go to the overlay only and are
 * gone when it closes, so nothing ever reaches the base (which is read through, never
 * written). Closing the overlay closes the base and `store`.
 *
 * The overlay is a format of its own, known only to core: a map from 64 KiB clusters to
 * their bytes, filled by copy-on-write from the base on a cluster's first write (as qcow2
 * copies a cluster on its first write over a backing file). Its clusters live in memory,
 * or, given `store` (a writable, empty byte source such as an unlinked temporary file),
 * appended there; the map itself is in memory. Reads of what the overlay does not hold go
 * through core's backing chain, and `allocationMap` shows them at depth 1.
 */
export function createVolatileOverlay(base: BlockDevice, store?: ByteSource, baseName = ''): BlockDevice {
  const image = new OverlayImage(base, store);
  return new BlockDevice(overlayDriver, image, store ?? image.memorySource, {
    writable: true,
    backing: { device: base, filename: baseName, fullFilename: baseName },
  });
}

class OverlayImage implements DriverImage {
  readonly virtualSize: number;
  readonly requestAlignment: number;
  readonly clusterSize: number;
  readonly base: BlockDevice;
  /** A source to hand BlockDevice when there is no store; the overlay reads its memory itself. */
  readonly memorySource: ByteSource = { size: 0, read: async (buffer) => void buffer.fill(0), close: async () => {} };
  readonly #store: ByteSource | undefined;
  /** Cluster index → its bytes (memory) or its offset in the store. */
  readonly #clusters = new Map<number, Uint8Array | number>();
  #storeEnd = 0;
  /** Copy-on-write reads the base, then fills the cluster: one write at a time, as a format driver's lock. */
  readonly #lock = new AsyncMutex();

  constructor(base: BlockDevice, store: ByteSource | undefined) {
    this.base = base;
    this.#store = store;
    this.virtualSize = base.virtualSize;
    this.requestAlignment = base.requestAlignment;
    this.clusterSize = Math.ceil(OVERLAY_CLUSTER_SIZE / base.requestAlignment) * base.requestAlignment;
    if (store && typeof store.write !== 'function') throw new ReadOnlyError('The overlay store is not writable');
    this.#storeEnd = store?.size ?? 0;
  }

  /** Fills the clusters the overlay holds; core reads the rest from the base. */
  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const iov = new IoVector(buffers);
    for (const { index, within, length, at } of this.#clusterParts(offset, iov.length)) {
      const cluster = this.#clusters.get(index);
      const pieces = iov.slices(at, length);
      if (cluster === undefined) {
        for (const piece of pieces) piece.fill(0);
      } else if (typeof cluster === 'number') {
        await readSource(this.#store as ByteSource, pieces, cluster + within);
      } else {
        let from = within;
        for (const piece of pieces) {
          piece.set(cluster.subarray(from, from + piece.length));
          from += piece.length;
        }
      }
    }
  }

  blockStatus(offset: number, length: number): BlockStatusRun[] {
    const runs: BlockStatusRun[] = [];
    for (const { index, within, length: part, at } of this.#clusterParts(offset, length)) {
      const cluster = this.#clusters.get(index);
      const run: BlockStatusRun = { offset: offset + at, length: part, data: cluster !== undefined };
      if (typeof cluster === 'number') run.fileOffset = cluster + within;
      const last = runs[runs.length - 1];
      if (last && last.data === run.data && last.fileOffset === undefined && run.fileOffset === undefined) {
        last.length += part;
      } else {
        runs.push(run);
      }
    }
    return runs;
  }

  async write(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    const iov = new IoVector(buffers);
    await this.#lock.runExclusive(async () => {
      for (const { index, within, length, at } of this.#clusterParts(offset, iov.length)) {
        const data = iov.slices(at, length);
        let cluster = this.#clusters.get(index);
        if (cluster === undefined) {
          cluster = await this.#copyOnWrite(index, within, data);
          this.#clusters.set(index, cluster);
        } else if (typeof cluster === 'number') {
          await this.#writeStore(data, cluster + within);
        } else {
          let to = within;
          for (const piece of data) {
            cluster.set(piece, to);
            to += piece.length;
          }
        }
      }
    });
  }

  async close(): Promise<void> {
    this.#clusters.clear();
  }

  /** A new cluster: the base's bytes with the write laid over them, in memory or appended to the store. */
  async #copyOnWrite(index: number, within: number, data: Uint8Array[]): Promise<Uint8Array | number> {
    const start = index * this.clusterSize;
    const bytes = new Uint8Array(Math.min(this.clusterSize, this.virtualSize - start));
    await this.base.readInto(bytes, start);
    let to = within;
    for (const piece of data) {
      bytes.set(piece, to);
      to += piece.length;
    }
    if (!this.#store) return bytes;
    const at = this.#storeEnd;
    this.#storeEnd = exactOffset(BigInt(at) + BigInt(this.clusterSize), 'Overlay store offset');
    await this.#writeStore([bytes], at);
    return at;
  }

  async #writeStore(buffers: Uint8Array[], position: number): Promise<void> {
    const store = this.#store as ByteSource & { write(buffer: Uint8Array, position: number): Promise<void> };
    let at = position;
    for (const buffer of buffers) {
      await store.write(buffer, at);
      at += buffer.length;
    }
  }

  *#clusterParts(
    offset: number,
    length: number,
  ): Generator<{ index: number; within: number; length: number; at: number }> {
    let done = 0;
    while (done < length) {
      const position = offset + done;
      const index = Math.floor(position / this.clusterSize);
      const within = position - index * this.clusterSize;
      const part = Math.min(length - done, this.clusterSize - within);
      yield { index, within, length: part, at: done };
      done += part;
    }
  }
}

/** The overlay's driver: only ever used through `createVolatileOverlay`, never registered or probed. */
const overlayDriver: BlockDriver<OverlayImage> = {
  name: 'overlay',
  description: 'Temporary overlay over an open image (QEMU -snapshot)',
  probe: () => 0,
  open: async () => {
    throw new ReadOnlyError('A volatile overlay is made with createVolatileOverlay, not opened');
  },
  blockStatus: async (image, offset, length) => image.blockStatus(offset, length),
  write: (image, offset, buffers) => image.write(offset, buffers),
  flush: async () => {},
};
