import { describe, expect, it } from 'vitest';
import { allocationMap } from './allocation-map.js';
import { BackingChainError, type BackingOpener, backingChain, type MapRun } from './backing-chain.js';
import type { BlockDriver, BlockStatusRun, DriverImage, DriverOpenOptions } from './driver.js';
import { VdiskError } from './errors.js';
import { MemorySource } from './memory-source.js';
import { Registry } from './registry.js';
import { createVolatileOverlay } from './volatile-overlay.js';

/**
 * A test format with parents: sector 0 is a header (`LAYR`, the disk's sector count at 4,
 * the parent's name at 16, NUL-terminated, `-` for "the parent is my name minus its last
 * character, if it exists", and per disk sector a kind at 256: 0 not here, 1 data, 2 zeros);
 * disk sector i is at file sector 1 + i.
 */
const SECTOR = 512;

function layer(sectors: number, parent: string, kinds: number[], fill: (sector: number) => number): Uint8Array {
  const bytes = new Uint8Array(SECTOR * (1 + sectors));
  bytes.set([0x4c, 0x41, 0x59, 0x52]);
  new DataView(bytes.buffer).setUint32(4, sectors, true);
  for (let i = 0; i < parent.length; i++) bytes[16 + i] = parent.charCodeAt(i);
  kinds.forEach((kind, i) => {
    bytes[256 + i] = kind;
    if (kind === 1) bytes.fill(fill(i), SECTOR * (1 + i), SECTOR * (2 + i));
  });
  return bytes;
}

class LayerImage implements DriverImage {
  readonly requestAlignment = SECTOR;
  readonly virtualSize: number;
  readonly backing?: { filename: string; format?: string; ifExists?: boolean };
  readonly kinds: Uint8Array;
  constructor(
    readonly source: MemorySource,
    header: Uint8Array,
    options: DriverOpenOptions,
  ) {
    this.virtualSize = new DataView(header.buffer).getUint32(4, true) * SECTOR;
    this.kinds = header.slice(256, 256 + this.virtualSize / SECTOR);
    let end = 16;
    while (header[end] !== 0) end++;
    const parent = String.fromCharCode(...header.subarray(16, end));
    if (parent === '-') {
      if (!options.probed && options.filename) {
        this.backing = { filename: options.filename.slice(0, -1), format: 'layer', ifExists: true };
      }
    } else if (parent) {
      this.backing = { filename: parent };
    }
  }
  async readv(offset: number, buffers: readonly Uint8Array[]): Promise<void> {
    let at = offset;
    for (const buffer of buffers) {
      await this.source.read(buffer, SECTOR + at);
      at += buffer.length;
    }
  }
  async close(): Promise<void> {}
}

const layerDriver: BlockDriver<LayerImage> = {
  name: 'layer',
  supportsBacking: true,
  probe: (sector) => (sector[0] === 0x4c && sector[1] === 0x41 && sector[2] === 0x59 && sector[3] === 0x52 ? 100 : 0),
  async open(source, options) {
    const header = new Uint8Array(SECTOR);
    await source.read(header, 0);
    return new LayerImage(source as MemorySource, header, options);
  },
  async blockStatus(image, offset, length) {
    const runs: BlockStatusRun[] = [];
    for (let at = offset; at < offset + length; at += SECTOR) {
      const kind = image.kinds[at / SECTOR];
      runs.push(
        kind === 1
          ? { offset: at, length: SECTOR, data: true, fileOffset: SECTOR + at }
          : kind === 2
            ? { offset: at, length: SECTOR, data: false, allocated: true }
            : { offset: at, length: SECTOR, data: false },
      );
    }
    return runs;
  },
};

const rawDriver: BlockDriver = {
  name: 'raw',
  probe: () => 1,
  async open(source) {
    return {
      virtualSize: source.size,
      requestAlignment: 1,
      readv: async (offset, buffers) => {
        let at = offset;
        for (const buffer of buffers) {
          await source.read(buffer, at);
          at += buffer.length;
        }
      },
      close: async () => {},
    };
  },
};

/** An opener over named byte arrays, counting what it opened and what is still open. */
function files(entries: Record<string, Uint8Array>) {
  const open = new Set<string>();
  const opener: BackingOpener = {
    identity: 'top',
    async open(reference) {
      const bytes = entries[reference.filename];
      if (!bytes) {
        if (reference.ifExists) return undefined;
        throw new VdiskError('EIO', 'No such file or directory');
      }
      open.add(reference.filename);
      const source = new MemorySource(bytes);
      const close = source.close.bind(source);
      source.close = async () => {
        open.delete(reference.filename);
        await close();
      };
      return { source, filename: `/images/${reference.filename}`, identity: reference.filename };
    },
  };
  return { opener, open };
}

const registry = new Registry([rawDriver, layerDriver]);

async function mapOf(device: Awaited<ReturnType<Registry['open']>>): Promise<MapRun[]> {
  const runs: MapRun[] = [];
  for await (const run of allocationMap(device)) runs.push(run);
  return runs;
}

describe('backing chains', () => {
  // top: sector 0 data (0x11), 1 zeros, 2 not here; mid: 2 data (0x22), 3 not here; base raw of 0x33.
  const base = new Uint8Array(4 * SECTOR).fill(0x33);
  const mid = layer(4, 'base.raw', [1, 1, 1, 0], (s) => 0x20 + s);
  const top = layer(4, 'mid.layr', [1, 2, 0, 0], () => 0x11);

  it('reads what a layer does not hold from below, and maps each run at its depth', async () => {
    const { opener, open } = files({ 'mid.layr': mid, 'base.raw': base });
    const warnings: string[] = [];
    const device = await registry.open(new MemorySource(top), {
      filename: 'top.layr',
      backingOpener: opener,
      onWarning: (m) => warnings.push(m),
    });
    const bytes = await device.read(0, 4 * SECTOR);
    expect([...new Set(bytes.subarray(0, SECTOR))]).toEqual([0x11]);
    expect([...new Set(bytes.subarray(SECTOR, 2 * SECTOR))]).toEqual([0]);
    expect([...new Set(bytes.subarray(2 * SECTOR, 3 * SECTOR))]).toEqual([0x22]);
    expect([...new Set(bytes.subarray(3 * SECTOR))]).toEqual([0x33]);
    // An unaligned read across the layers: core's padding, then the chain.
    expect([...(await device.read(3 * SECTOR - 2, 4))]).toEqual([0x22, 0x22, 0x33, 0x33]);
    expect(await mapOf(device)).toEqual([
      { offset: 0, length: 512, depth: 0, present: true, zero: false, data: true, fileOffset: 512 },
      { offset: 512, length: 512, depth: 0, present: true, zero: true, data: false, allocated: true },
      { offset: 1024, length: 512, depth: 1, present: true, zero: false, data: true, fileOffset: 1536 },
      { offset: 1536, length: 512, depth: 2, present: true, zero: false, data: true },
    ]);
    expect(backingChain(device).map((link) => [link.filename, link.fullFilename, link.device.format])).toEqual([
      ['mid.layr', '/images/mid.layr', 'layer'],
      ['base.raw', '/images/base.raw', 'raw'],
    ]);
    // The raw base was probed: one warning naming the guess.
    expect(warnings).toEqual([
      "WARNING: Image format was not specified for '/images/base.raw' and probing guessed raw.",
    ]);
    expect(open.size).toBe(2);
    await device.close();
    expect(open.size).toBe(0);
  });

  it('maps a run no layer holds as not present, zero, at the depth of the last layer', async () => {
    const { opener } = files({ 'lower.layr': layer(4, '', [0, 0, 0, 0], () => 0) });
    const device = await registry.open(new MemorySource(layer(4, 'lower.layr', [0, 0, 0, 1], () => 9)), {
      backingOpener: opener,
    });
    expect(await mapOf(device)).toEqual([
      { offset: 0, length: 1536, depth: 1, present: false, zero: true, data: false },
      { offset: 1536, length: 512, depth: 0, present: true, zero: false, data: true, fileOffset: 2048 },
    ]);
    expect(await device.read(0, 1536)).toEqual(new Uint8Array(1536));
    await device.close();
  });

  it("maps a hole of an image without a parent as present zeros, unless its format could have one (VMDK's)", async () => {
    const bytes = layer(2, '', [0, 1], () => 5);
    const plain = new Registry([{ ...layerDriver, supportsBacking: false }]);
    const alone = await plain.open(new MemorySource(bytes.slice()), { format: 'layer' });
    expect((await mapOf(alone))[0]).toEqual({
      offset: 0,
      length: 512,
      depth: 0,
      present: true,
      zero: true,
      data: false,
    });
    await alone.close();
    const capable = new Registry([{ ...layerDriver, supportsBacking: true }]);
    const device = await capable.open(new MemorySource(bytes.slice()), { format: 'layer' });
    expect((await mapOf(device))[0]).toEqual({
      offset: 0,
      length: 512,
      depth: 0,
      present: false,
      zero: true,
      data: false,
    });
    await device.close();
  });

  it('reads zeros past the end of a shorter parent, mapped as not present', async () => {
    const { opener } = files({ 'short.raw': new Uint8Array(SECTOR).fill(0x44) });
    const device = await registry.open(new MemorySource(layer(2, 'short.raw', [0, 0], () => 0)), {
      backingOpener: opener,
    });
    const bytes = await device.read(0, 2 * SECTOR);
    expect([...new Set(bytes.subarray(0, SECTOR))]).toEqual([0x44]);
    expect([...new Set(bytes.subarray(SECTOR))]).toEqual([0]);
    expect(await mapOf(device)).toEqual([
      { offset: 0, length: 512, depth: 1, present: true, zero: false, data: true },
      { offset: 512, length: 512, depth: 0, present: false, zero: true, data: false },
    ]);
    await device.close();
  });

  it('holes without a parent: not present in a format that can have one, present zeros otherwise', async () => {
    const device = await registry.open(new MemorySource(layer(2, '', [0, 1], () => 5)));
    expect(await mapOf(device)).toEqual([
      { offset: 0, length: 512, depth: 0, present: false, zero: true, data: false },
      { offset: 512, length: 512, depth: 0, present: true, zero: false, data: true, fileOffset: 1024 },
    ]);
    await device.close();
    const flat = new Registry([{ ...layerDriver, supportsBacking: false }]);
    const noParents = await flat.open(new MemorySource(layer(2, '', [0, 1], () => 5)));
    expect((await mapOf(noParents))[0]).toEqual({
      offset: 0,
      length: 512,
      depth: 0,
      present: true,
      zero: true,
      data: false,
    });
    await noParents.close();
  });

  it('refuses a loop with a typed error and closes what it opened', async () => {
    const { opener, open } = files({
      'a.layr': layer(1, 'b.layr', [0], () => 0),
      'b.layr': layer(1, 'a.layr', [0], () => 0),
    });
    const error = await registry
      .open(new MemorySource(layer(1, 'a.layr', [0], () => 0)), { backingOpener: opener })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(BackingChainError);
    expect((error as Error).message).toBe("Backing file 'a.layr' would make a loop in the backing chain");
    expect((error as VdiskError).filename).toBe('/images/b.layr');
    expect(open.size).toBe(0);
  });

  it('refuses a chain deeper than the limit', async () => {
    const chain: Record<string, Uint8Array> = {};
    for (let i = 0; i < 20; i++) chain[`l${i}`] = layer(1, `l${i + 1}`, [0], () => 0);
    const { opener, open } = files(chain);
    await expect(
      registry.open(new MemorySource(layer(1, 'l0', [0], () => 0)), { backingOpener: opener }),
    ).rejects.toThrow('Backing chain is longer than 16 images');
    expect(open.size).toBe(0);
  });

  it('a missing parent is an error naming it; without an opener too', async () => {
    const { opener } = files({});
    await expect(
      registry.open(new MemorySource(layer(1, 'gone.raw', [0], () => 0)), { backingOpener: opener }),
    ).rejects.toThrow("Could not open backing file: Could not open 'gone.raw': No such file or directory");
    await expect(registry.open(new MemorySource(layer(1, 'gone.raw', [0], () => 0)))).rejects.toThrow(
      "Could not open backing file 'gone.raw'",
    );
  });

  it('follows a name-implied parent only when the format is named, never when probed', async () => {
    const { opener } = files({ 'c.img': layer(1, '', [1], () => 0x55) });
    const named = await registry.open(new MemorySource(layer(1, '-', [0], () => 0)), {
      format: 'layer',
      filename: 'c.img1',
      backingOpener: opener,
    });
    expect([...new Set(await named.read(0, SECTOR))]).toEqual([0x55]);
    await named.close();
    const probed = await registry.open(new MemorySource(layer(1, '-', [0], () => 0)), {
      filename: 'c.img1',
      backingOpener: opener,
    });
    expect(probed.backing).toBeUndefined();
    expect(await probed.read(0, SECTOR)).toEqual(new Uint8Array(SECTOR));
    await probed.close();
    // A parent that does not exist ends the chain when the reference says so.
    const alone = await registry.open(new MemorySource(layer(1, '-', [0], () => 0)), {
      format: 'layer',
      filename: 'x.img1',
      backingOpener: opener,
    });
    expect(alone.backing).toBeUndefined();
    await alone.close();
  });

  it('runs the coherency hook with the parent and fails the open when it throws', async () => {
    const { opener, open } = files({ 'base.raw': base });
    const checking: BlockDriver<LayerImage> = {
      ...layerDriver,
      async open(source, options) {
        const image = await layerDriver.open(source, options);
        return Object.assign(image, {
          async backingOpened(parent: { virtualSize: number }) {
            if (parent.virtualSize !== 2 * SECTOR) throw new VdiskError('EFORMAT', 'size mismatch');
          },
        });
      },
    };
    await expect(
      new Registry([rawDriver, checking]).open(new MemorySource(top.slice()), {
        backingOpener: { ...opener, open: (r, c) => opener.open({ ...r, filename: 'base.raw' }, c) },
      }),
    ).rejects.toThrow('size mismatch');
    expect(open.size).toBe(0);
  });
});

describe('createVolatileOverlay', () => {
  it('reads as the base until written; writes stay in the overlay; the base never changes', async () => {
    const bytes = new Uint8Array(200_000).map((_, i) => (i * 13) & 0xff);
    const copy = bytes.slice();
    const base = await registry.open(new MemorySource(bytes), { format: 'raw' });
    const overlay = createVolatileOverlay(base, undefined, 'base.raw');
    expect(overlay.virtualSize).toBe(200_000);
    expect(Buffer.from(await overlay.read(0, 200_000)).equals(copy)).toBe(true);
    expect(overlay.writable).toBe(true);
    await overlay.write(70_000, new Uint8Array(100).fill(0xee));
    const expected = copy.slice();
    expected.fill(0xee, 70_000, 70_100);
    expect(Buffer.from(await overlay.read(0, 200_000)).equals(expected)).toBe(true);
    expect(Buffer.from(bytes).equals(copy)).toBe(true);
    const runs: MapRun[] = [];
    for await (const run of allocationMap(overlay)) runs.push(run);
    expect(runs).toEqual([
      { offset: 0, length: 65536, depth: 1, present: true, zero: false, data: true },
      { offset: 65536, length: 65536, depth: 0, present: true, zero: false, data: true },
      { offset: 131072, length: 200_000 - 131072, depth: 1, present: true, zero: false, data: true },
    ]);
    await overlay.close();
    // Closing the overlay closes the base it owns.
    expect(base.closed).toBe(true);
  });

  it('keeps its clusters in a store when given one, and the last cluster short at the end of the disk', async () => {
    const base = await registry.open(new MemorySource(new Uint8Array(70_000).fill(7)), { format: 'raw' });
    const stored = new Uint8Array(200_000);
    let storeSize = 0;
    const store = {
      get size() {
        return storeSize;
      },
      async read(buffer: Uint8Array, position: number) {
        buffer.set(stored.subarray(position, position + buffer.length));
      },
      async write(buffer: Uint8Array, position: number) {
        stored.set(buffer, position);
        storeSize = Math.max(storeSize, position + buffer.length);
      },
      async close() {},
    };
    const overlay = createVolatileOverlay(base, store);
    await overlay.write(69_990, new Uint8Array(10).fill(1));
    const expected = new Uint8Array(70_000).fill(7);
    expected.fill(1, 69_990);
    expect(await overlay.read(0, 70_000)).toEqual(expected);
    expect(storeSize).toBe(70_000 - 65536);
    const runs: MapRun[] = [];
    for await (const run of allocationMap(overlay)) runs.push(run);
    expect(runs[1]).toEqual({
      offset: 65536,
      length: 70_000 - 65536,
      depth: 0,
      present: true,
      zero: false,
      data: true,
      fileOffset: 0,
    });
    await overlay.close();
  });

  it('Registry.open with snapshot opens the image read-only under an overlay', async () => {
    const bytes = new Uint8Array(4096).fill(3);
    const device = await registry.open(new MemorySource(bytes), { format: 'raw', snapshot: true, writable: true });
    expect(device.format).toBe('overlay');
    expect(device.backing?.device.format).toBe('raw');
    await device.write(0, new Uint8Array(512));
    expect(await device.read(0, 512)).toEqual(new Uint8Array(512));
    expect(bytes.every((b) => b === 3)).toBe(true);
    await device.close();
  });
});
