import { describe, expect, it } from 'vitest';
import type { BlockDriver, CreateOptions, DriverImage, ProbeContext } from './driver.js';
import { ReadOnlyError, UnknownFormatError } from './errors.js';
import { MemorySource } from './memory-source.js';
import { Registry } from './registry.js';

function scoring(name: string, score: (sector: Uint8Array) => number, seen?: Uint8Array[]): BlockDriver {
  return {
    name,
    probe(sector) {
      seen?.push(sector);
      return score(sector);
    },
    async open(source): Promise<DriverImage> {
      return { virtualSize: source.size, requestAlignment: 1, readv: async () => {}, close: async () => {} };
    },
  };
}

const bytes = (text: string) => new TextEncoder().encode(text);

describe('Registry probing, after QEMU block.c', () => {
  it('picks the highest score and reports every score', () => {
    const registry = new Registry([scoring('raw', () => 1), scoring('a', () => 50), scoring('b', () => 100)]);
    expect(registry.probeBytes(bytes('x'), 1)).toEqual({
      format: 'b',
      score: 100,
      scores: { raw: 1, a: 50, b: 100 },
      guessed: false,
    });
  });

  it('gives a tie to the driver registered last', () => {
    const registry = new Registry([scoring('first', () => 60), scoring('second', () => 60)]);
    expect(registry.probeBytes(bytes('x'), 1).format).toBe('second');
  });

  it('says raw was guessed when it wins only because nothing else matched', () => {
    const registry = new Registry([scoring('raw', () => 1), scoring('other', () => 0)]);
    expect(registry.probeBytes(bytes('x'), 1)).toMatchObject({ format: 'raw', score: 1, guessed: true });
  });

  it('calls a 0-byte file raw without asking the drivers', () => {
    const seen: Uint8Array[] = [];
    const registry = new Registry([scoring('raw', () => 1, seen), scoring('other', () => 100, seen)]);
    expect(registry.probeBytes(new Uint8Array(), 0)).toEqual({
      format: 'raw',
      score: 1,
      scores: { raw: 1 },
      guessed: true,
    });
    expect(seen).toHaveLength(0);
  });

  it('gives every driver the first 512 bytes, zero-padded', () => {
    const seen: Uint8Array[] = [];
    const registry = new Registry([scoring('raw', () => 1, seen)]);
    registry.probeBytes(bytes('abc'), 3);
    expect(seen[0]).toHaveLength(512);
    expect(Array.from(seen[0]?.subarray(0, 4) ?? [])).toEqual([97, 98, 99, 0]);
    const long = new Uint8Array(2000).fill(7);
    registry.probeBytes(long, 2000);
    expect(seen[1]).toHaveLength(512);
  });

  it("fails with QEMU's message when no driver scores above 0", () => {
    const registry = new Registry([scoring('picky', () => 0)]);
    expect(() => registry.probeBytes(bytes('x'), 1)).toThrow(
      new UnknownFormatError('Could not determine image format: No compatible driver found'),
    );
  });

  it("gives every driver the file's last sector, its size and its name (a fixed VHD's footer)", async () => {
    const contexts: (ProbeContext | undefined)[] = [];
    const tail: BlockDriver = {
      ...scoring('tail', () => 0),
      probe: (_sector, context) => {
        contexts.push(context);
        return context?.lastSector?.[511] === 0x54 ? 100 : 0;
      },
    };
    const registry = new Registry([scoring('raw', () => 1), tail]);
    const file = new Uint8Array(1500);
    file[1499] = 0x54;
    expect((await registry.probe(new MemorySource(file), 'disk.vhd')).format).toBe('tail');
    expect(contexts[0]?.filename).toBe('disk.vhd');
    expect(contexts[0]?.fileSize).toBe(1500);
    expect(Array.from(contexts[0]?.lastSector ?? []).slice(-2)).toEqual([0, 0x54]);
    expect(contexts[0]?.lastSector).toHaveLength(512);
    // Shorter than a sector: no last sector at all.
    await registry.probe(new MemorySource(new Uint8Array(100).fill(0x54)));
    expect(contexts[1]?.lastSector).toBeUndefined();
  });

  it('probes a source through its first sector', async () => {
    const registry = new Registry([scoring('raw', () => 1), scoring('magic', (s) => (s[0] === 0x4d ? 100 : 0))]);
    expect((await registry.probe(new MemorySource(bytes('M...')))).format).toBe('magic');
    expect((await registry.probe(new MemorySource(bytes('X...')))).format).toBe('raw');
  });
});

describe('Registry lookup and open', () => {
  it('lists drivers in registration order and finds them by name', () => {
    const registry = new Registry([scoring('raw', () => 1), scoring('x', () => 0)]);
    expect(registry.drivers.map((d) => d.name)).toEqual(['raw', 'x']);
    expect(registry.get('x').name).toBe('x');
    expect(() => registry.get('nope')).toThrow("Unknown driver 'nope'");
  });

  it('refuses two drivers with the same name', () => {
    expect(() => new Registry([scoring('a', () => 1), scoring('a', () => 1)])).toThrow();
  });

  it('opens with a named format without probing, and with the probed one otherwise', async () => {
    const registry = new Registry([scoring('raw', () => 1), scoring('magic', (s) => (s[0] === 0x4d ? 100 : 0))]);
    const source = new MemorySource(bytes('M...'));
    expect((await registry.open(source)).format).toBe('magic');
    expect((await registry.open(source, { format: 'raw' })).format).toBe('raw');
  });
});

describe('Registry writable open, cache modes and create', () => {
  it('refuses a writable open of a driver without write before the driver reads a byte', async () => {
    let opened = 0;
    const readOnly: BlockDriver = {
      ...scoring('ro', () => 100),
      open: async () => {
        opened++;
        throw new Error('must not be called');
      },
    };
    const registry = new Registry([readOnly]);
    const source = new MemorySource(bytes('anything'));
    await expect(registry.open(source, { format: 'ro', writable: true })).rejects.toMatchObject({
      constructor: ReadOnlyError,
      message: 'Image is read-only',
    });
    await expect(registry.open(source, { writable: true })).rejects.toBeInstanceOf(ReadOnlyError);
    expect(opened).toBe(0);
  });

  const writer = (flushes: string[]): BlockDriver => ({
    ...scoring('writer', () => 1),
    async open(source): Promise<DriverImage> {
      return { virtualSize: source.size, requestAlignment: 1, readv: async () => {}, close: async () => {} };
    },
    write: async () => {},
    flush: async () => {
      flushes.push('driver');
    },
  });

  it('refuses a writable open of a source that cannot write', async () => {
    const source = { size: 0, read: async () => {}, close: async () => {} };
    await expect(new Registry([writer([])]).open(source, { format: 'writer', writable: true })).rejects.toBeInstanceOf(
      ReadOnlyError,
    );
  });

  it("opens writable, and with cache 'unsafe' the driver's flushes of the source do nothing", async () => {
    const flushes: string[] = [];
    const source = new MemorySource(new Uint8Array(512));
    source.flush = async () => {
      flushes.push('source');
    };
    let seenSource: { flush?: () => Promise<void> } | undefined;
    const driver: BlockDriver = {
      ...writer(flushes),
      async open(opened): Promise<DriverImage> {
        seenSource = opened;
        return { virtualSize: opened.size, requestAlignment: 1, readv: async () => {}, close: async () => {} };
      },
      flush: async () => {
        await seenSource?.flush?.();
      },
    };
    const registry = new Registry([driver]);
    const safe = await registry.open(source, { format: 'writer', writable: true });
    expect(safe.writable).toBe(true);
    await safe.flush();
    expect(flushes).toEqual(['source']);
    const unsafe = await registry.open(source, { format: 'writer', writable: true, cache: 'unsafe' });
    await unsafe.flush();
    await unsafe.write(0, new Uint8Array(1), { fua: true });
    expect(flushes).toEqual(['source']);
  });

  it("creates with the driver's create, and says when a format cannot", async () => {
    const created: CreateOptions[] = [];
    const registry = new Registry([
      scoring('plain', () => 1),
      { ...scoring('maker', () => 0), create: async (_target, options) => void created.push(options) },
    ]);
    await registry.create('maker', new MemorySource(), { virtualSize: 1024, options: { a: 'b' } });
    await registry.create('maker', new MemorySource(), { virtualSize: 0 });
    expect(created).toEqual([
      { virtualSize: 1024, options: { a: 'b' } },
      { virtualSize: 0, options: {} },
    ]);
    await expect(registry.create('plain', new MemorySource(), { virtualSize: 1 })).rejects.toMatchObject({
      code: 'EINVAL',
      message: "Format driver 'plain' does not support image creation",
    });
    await expect(registry.create('maker', new MemorySource(), { virtualSize: -1 })).rejects.toMatchObject({
      code: 'EINVAL',
    });
    await expect(registry.create('nope', new MemorySource(), { virtualSize: 1 })).rejects.toBeInstanceOf(
      UnknownFormatError,
    );
  });
});
