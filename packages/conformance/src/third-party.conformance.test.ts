/**
 * A third party's format, defined here and nowhere else, registered the way an embedder
 * registers one (its own ContainerModule, core's createRegistry) and run through the same
 * suite as vdisk's own drivers: the suite needs nothing from core beyond its public API.
 *
 * "tiny": a 512-byte header (`TINYDISK` NUL, u32 block size at 16, u32 block count at 20),
 * then a table of u32 block numbers at 512 (0: the block is a hole), then 1 KiB-aligned
 * data blocks at `number * blockSize`. Requests must be aligned to 1 KiB.
 */
import {
  BLOCK_DRIVER,
  type BlockDriver,
  type BlockStatusRun,
  type ByteSource,
  createRegistry,
  type DriverImage,
  ImageFormatError,
  MemorySource,
} from '@vdisk/core';
import { ContainerModule } from 'inversify';
import { runDriverConformance } from './index.js';

const MAGIC = 'TINYDISK';

class TinyImage implements DriverImage {
  readonly requestAlignment = 1024;
  readonly virtualSize: number;
  constructor(
    readonly source: ByteSource,
    readonly blockSize: number,
    readonly table: Uint32Array,
  ) {
    this.virtualSize = blockSize * table.length;
  }

  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    let position = offset;
    for (const buffer of buffers) {
      let done = 0;
      while (done < buffer.length) {
        const block = Math.floor(position / this.blockSize);
        const within = position % this.blockSize;
        const part = Math.min(buffer.length - done, this.blockSize - within);
        const target = buffer.subarray(done, done + part);
        const number = this.table[block] ?? 0;
        if (number === 0) target.fill(0);
        else await this.source.read(target, number * this.blockSize + within);
        done += part;
        position += part;
      }
    }
  }

  async close(): Promise<void> {}
}

class TinyDriver implements BlockDriver<TinyImage> {
  readonly name = 'tiny';

  probe(sector: Uint8Array): number {
    for (let i = 0; i < MAGIC.length; i++) if (sector[i] !== MAGIC.charCodeAt(i)) return 0;
    return sector[MAGIC.length] === 0 ? 100 : 0;
  }

  async open(source: ByteSource): Promise<TinyImage> {
    const header = new Uint8Array(512);
    await source.read(header, 0);
    if (this.probe(header) === 0) throw new ImageFormatError('Image not in tiny format');
    const view = new DataView(header.buffer);
    const blockSize = view.getUint32(16, true);
    const count = view.getUint32(20, true);
    // Hostile fields: whole 1 KiB units of at most 1 MiB, and a table of at most 4 MiB,
    // the one allocation an open makes (the corrupt-input check found this missing).
    if (blockSize === 0 || blockSize % 1024 !== 0 || blockSize > 1 << 20) {
      throw new ImageFormatError(`Invalid tiny block size ${blockSize}`);
    }
    if (count > 1 << 20) throw new ImageFormatError(`Too many tiny blocks (${count})`);
    const raw = new Uint8Array(count * 4);
    await source.read(raw, 512);
    const rawView = new DataView(raw.buffer);
    const table = new Uint32Array(count);
    for (let i = 0; i < count; i++) table[i] = rawView.getUint32(i * 4, true);
    return new TinyImage(source, blockSize, table);
  }

  async blockStatus(image: TinyImage, offset: number, length: number): Promise<BlockStatusRun[]> {
    const runs: BlockStatusRun[] = [];
    for (let position = offset; position < offset + length; ) {
      const block = Math.floor(position / image.blockSize);
      const within = position % image.blockSize;
      const part = Math.min(offset + length - position, image.blockSize - within);
      const number = image.table[block] ?? 0;
      runs.push(
        number === 0
          ? { offset: position, length: part, data: false }
          : { offset: position, length: part, data: true, fileOffset: number * image.blockSize + within },
      );
      position += part;
    }
    return runs;
  }
}

const tinyModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).toConstantValue(new TinyDriver());
});

/** Builds a tiny image whose blocks `written` hold a pattern; returns it and the disk it stands for. */
function buildTiny(blockSize: number, count: number, written: number[]): { file: Uint8Array; disk: Uint8Array } {
  const disk = new Uint8Array(blockSize * count);
  const firstData = Math.ceil((512 + 4 * count) / blockSize);
  const file = new Uint8Array((firstData + written.length) * blockSize);
  file.set(new TextEncoder().encode(MAGIC), 0);
  const view = new DataView(file.buffer);
  view.setUint32(16, blockSize, true);
  view.setUint32(20, count, true);
  // Blocks are stored in reverse order, so the file order is not the disk's.
  [...written].reverse().forEach((block, i) => {
    const number = firstData + i;
    view.setUint32(512 + 4 * block, number, true);
    for (let b = 0; b < blockSize; b++) {
      const byte = ((block * 31 + b * 7) % 251) + 1;
      disk[block * blockSize + b] = byte;
      file[number * blockSize + b] = byte;
    }
  });
  return { file, disk };
}

const driver = createRegistry(tinyModule).get('tiny');

runDriverConformance({
  name: 'tiny (a third-party format)',
  driver,
  makeImage: () => {
    const { file, disk } = buildTiny(4096, 40, [0, 1, 5, 6, 7, 20, 39]);
    return { source: new MemorySource(file), expected: disk };
  },
});

runDriverConformance({
  name: 'tiny, all holes',
  driver,
  makeImage: () => {
    const { file, disk } = buildTiny(2048, 8, []);
    return { source: new MemorySource(file), expected: disk };
  },
});
