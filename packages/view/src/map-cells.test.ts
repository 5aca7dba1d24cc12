import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { cellSizeFor, MAP_KINDS, MapCells, type MapKind, type MapRunLike, runKind } from './map-cells.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const GiB = 1024 * MiB;
const TiB = 1024 * GiB;

describe('cellSizeFor', () => {
  it.each([
    [0, 512],
    [512, 512],
    [2 * MiB, 512],
    [2 * MiB + 512, 1024],
    [10 * MiB, 4 * KiB],
    [TiB, 256 * MiB],
    [8 * TiB, 2 * GiB],
  ])('a %d-byte disk has cells of %d bytes', (size, cell) => {
    expect(cellSizeFor(size)).toBe(cell);
    expect(Math.ceil(size / cell)).toBeLessThanOrEqual(4096);
  });
});

/** Runs covering a disk of `sectors` sectors, in order, each of one kind. */
const runsArbitrary = fc
  .array(fc.record({ sectors: fc.integer({ min: 1, max: 40 }), kind: fc.constantFrom(...MAP_KINDS) }), {
    minLength: 1,
    maxLength: 60,
  })
  .map((pieces) => {
    let offset = 0;
    return pieces.map(({ sectors, kind }) => {
      const run: MapRunLike = { offset, length: sectors * 512, data: kind === 'data' };
      if (kind === 'zero') run.allocated = true;
      if (kind === 'base') Object.assign(run, { depth: 1, present: true, zero: false, data: true });
      offset += sectors * 512;
      return { run, kind };
    });
  });

describe('runKind', () => {
  it.each([
    [{ data: true }, 'data'],
    [{ data: false, allocated: true }, 'zero'],
    [{ data: false }, 'hole'],
    // A backing chain's map (depth, present, zero: qemu-img map's fields).
    [{ depth: 0, present: true, zero: false, data: true }, 'data'],
    // Present zeros: written as zeros (allocated), or a hole of a format that has no parents.
    [{ depth: 0, present: true, zero: true, data: false, allocated: true }, 'zero'],
    [{ depth: 0, present: true, zero: true, data: false }, 'hole'],
    [{ depth: 1, present: true, zero: false, data: true }, 'base'],
    [{ depth: 1, present: true, zero: true, data: false }, 'base'],
    [{ depth: 1, present: false, zero: true, data: false }, 'hole'],
  ] as const)('%j is %s', (fields, kind) => {
    expect(runKind({ offset: 0, length: 512, ...fields })).toBe(kind);
  });
});

describe('MapCells', () => {
  it('counts, for every cell, the bytes of each kind that a sector-by-sector tally finds', () => {
    fc.assert(
      fc.property(runsArbitrary, fc.integer({ min: 1, max: 9 }), (runs, maxCells) => {
        const size = runs.reduce((sum, { run }) => sum + run.length, 0);
        const cells = new MapCells(size, { maxCells });
        for (const { run } of runs) cells.add(run);
        // The expectation, one sector at a time.
        const sectorKinds: MapKind[] = runs.flatMap(({ run, kind }) => Array(run.length / 512).fill(kind));
        expect(cells.count).toBe(Math.ceil(size / cells.cellSize));
        expect(cells.covered).toBe(size);
        for (let cell = 0; cell < cells.count; cell++) {
          const { offset, length } = cells.cellRange(cell);
          const inCell = sectorKinds.slice(offset / 512, (offset + length) / 512);
          for (const kind of MAP_KINDS) {
            expect(cells.bytes(cell, kind)).toBe(inCell.filter((k) => k === kind).length * 512);
          }
          const shown = MAP_KINDS.find((kind) => inCell.includes(kind));
          expect(cells.shade(cell)).toEqual({ kind: shown, whole: inCell.every((k) => k === shown) });
        }
      }),
    );
  });

  it('shows a cell no run reached yet as pending', () => {
    const cells = new MapCells(4096);
    cells.add({ offset: 0, length: 512, data: true });
    expect(cells.shade(0)).toEqual({ kind: 'data', whole: true });
    expect(cells.shade(1)).toEqual({ kind: undefined, whole: false });
  });

  it('refuses a run outside the disk', () => {
    const cells = new MapCells(4096);
    expect(() => cells.add({ offset: 3584, length: 1024, data: true })).toThrow(/outside the disk/);
  });

  it('sums an 8 TiB disk of a million extents into 4096 cells in bounded memory', () => {
    // A million 8 MiB extents, each 1 MiB of data then 7 MiB of hole: two million runs,
    // generated one at a time as allocationMap yields them.
    const size = 8 * TiB;
    const cells = new MapCells(size);
    const extent = 8 * MiB;
    for (let e = 0; e < size / extent; e++) {
      cells.add({ offset: e * extent, length: MiB, data: true, fileOffset: e * MiB });
      cells.add({ offset: e * extent + MiB, length: 7 * MiB, data: false });
    }
    expect(cells.count).toBe(4096);
    expect(cells.covered).toBe(size);
    for (const cell of [0, 1, 2047, 4095]) {
      expect(cells.bytes(cell, 'data')).toBe(256 * MiB);
      expect(cells.bytes(cell, 'hole')).toBe(7 * 256 * MiB);
      expect(cells.shade(cell)).toEqual({ kind: 'data', whole: false });
    }
  });
});
