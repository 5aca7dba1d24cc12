/**
 * A third party adds a format with one ContainerModule and no change to core. The format
 * is defined only here: "TPF1" images hold a 4-byte magic, a uint32 virtual size in
 * sectors, and the sectors from byte 512, each stored with its bytes reversed.
 */
import { ContainerModule } from 'inversify';
import { describe, expect, it } from 'vitest';
import {
  BLOCK_DRIVER,
  type BlockDriver,
  type ByteSource,
  createRegistry,
  type DriverImage,
  ImageFormatError,
  MemorySource,
} from './index.js';

class ReversedImage implements DriverImage {
  readonly requestAlignment = 512;
  constructor(
    readonly source: ByteSource,
    readonly virtualSize: number,
  ) {}
  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    let at = offset;
    for (const buffer of buffers) {
      await this.source.read(buffer, 512 + at);
      for (let s = 0; s < buffer.length; s += 512) buffer.subarray(s, s + 512).reverse();
      at += buffer.length;
    }
  }
  async close(): Promise<void> {}
}

class ReversedDriver implements BlockDriver<ReversedImage> {
  readonly name = 'tpf';
  probe(sector: Uint8Array): number {
    return new TextDecoder().decode(sector.subarray(0, 4)) === 'TPF1' ? 80 : 0;
  }
  async open(source: ByteSource): Promise<ReversedImage> {
    const header = new Uint8Array(8);
    await source.read(header, 0);
    if (this.probe(header) === 0) throw new ImageFormatError('Image not in TPF format');
    return new ReversedImage(source, new DataView(header.buffer).getUint32(4, true) * 512);
  }
}

const tpfModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(ReversedDriver).inSingletonScope();
});

class AnythingDriver implements BlockDriver {
  readonly name = 'anything';
  probe = () => 1;
  open = async (source: ByteSource): Promise<DriverImage> => ({
    virtualSize: source.size,
    requestAlignment: 1,
    readv: (offset, [buffer]) => (buffer ? source.read(buffer, offset) : Promise.resolve()),
    close: async () => {},
  });
}
const anythingModule = new ContainerModule(({ bind }) => {
  bind(BLOCK_DRIVER).to(AnythingDriver).inSingletonScope();
});

function tpfImage(sectors: Uint8Array[]): Uint8Array {
  const image = new Uint8Array(512 + sectors.length * 512);
  image.set(new TextEncoder().encode('TPF1'));
  new DataView(image.buffer).setUint32(4, sectors.length, true);
  sectors.forEach((sector, i) => {
    image.set(Uint8Array.from(sector).reverse(), 512 + i * 512);
  });
  return image;
}

describe('a third-party format registered through its own ContainerModule', () => {
  const sectors = [new Uint8Array(512).fill(1), Uint8Array.from({ length: 512 }, (_, i) => i & 0xff)];

  it('is listed, probed and read through core', async () => {
    const registry = createRegistry(anythingModule, tpfModule);
    expect(registry.drivers.map((d) => d.name)).toEqual(['anything', 'tpf']);
    const source = new MemorySource(tpfImage(sectors));
    expect(await registry.probe(source)).toEqual({
      format: 'tpf',
      score: 80,
      scores: { anything: 1, tpf: 80 },
      guessed: false,
    });
    const device = await registry.open(source);
    expect(device.format).toBe('tpf');
    expect(device.virtualSize).toBe(1024);
    // An unaligned read: core pads it; the driver only sees whole sectors.
    expect(await device.read(500, 20)).toEqual(
      Uint8Array.from([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 1, 2, 3, 4, 5, 6, 7]),
    );
  });

  it('loses to nothing else, and other files fall back to the catch-all driver', async () => {
    const registry = createRegistry(anythingModule, tpfModule);
    const result = await registry.probe(new MemorySource(new TextEncoder().encode('plain text')));
    expect(result).toMatchObject({ format: 'anything', guessed: true });
  });
});
