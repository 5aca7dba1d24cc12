import { describe, expect, it } from 'vitest';
import type { BlockDriver, DriverImage, ProbeContext } from './driver.js';
import { UnknownFormatError } from './errors.js';
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
