import { InvalidArgumentError } from '@vdisk/core';

/**
 * What a byte of the map is: data of the image; held by a backing image (the layer
 * below: data or zeros there); allocated in the image but reading as zeros; or a hole,
 * allocated nowhere. Listed in the order a cell shows them: a cell with any data shows
 * data, so one sector of data in a 2 GiB cell does not vanish from the picture.
 */
export const MAP_KINDS = ['data', 'base', 'zero', 'hole'] as const;
export type MapKind = (typeof MAP_KINDS)[number];

/**
 * A run of the allocation map, as allocationMap yields it: core's BlockStatusRun
 * (`data`, `allocated`), or a run of a backing chain's map, which also says which layer
 * holds it (`depth`, 0 the image itself) and qemu-img map's `present` and `zero`.
 */
export interface MapRunLike {
  offset: number;
  length: number;
  data: boolean;
  allocated?: boolean;
  depth?: number;
  present?: boolean;
  zero?: boolean;
  fileOffset?: number;
}

/** The kind of a map run. */
export function runKind(run: MapRunLike): MapKind {
  if ((run.depth ?? 0) > 0 && (run.data || run.present)) return 'base';
  if (run.data) return 'data';
  // A hole of a format without a parent is present and zero too: only `allocated` says zeros were written.
  return run.allocated ? 'zero' : 'hole';
}

/** At most this many cells: a 64 x 64 grid, whatever the disk's size. */
export const MAX_MAP_CELLS = 4096;
/** A cell is at least a sector. */
export const MIN_CELL_SIZE = 512;

/**
 * The bytes one cell covers: the smallest power of two, at least a sector, that covers
 * the disk in `maxCells` cells or fewer (an 8 TiB disk: 2 GiB cells). A power of two
 * reads well under the picture ("one cell = 256 MiB").
 */
export function cellSizeFor(virtualSize: number, maxCells = MAX_MAP_CELLS): number {
  if (!Number.isSafeInteger(virtualSize) || virtualSize < 0) {
    throw new InvalidArgumentError(`Virtual size ${virtualSize} is not a byte count`);
  }
  let size = MIN_CELL_SIZE;
  while (Math.ceil(virtualSize / size) > maxCells) size *= 2;
  return size;
}

/** What a cell shows: its kind of highest rank, and whether that kind fills the cell. */
export interface CellShade {
  /** Undefined while no run has reached the cell yet. */
  kind: MapKind | undefined;
  whole: boolean;
}

/**
 * The allocation map summed into a fixed number of cells, fed one run at a time while
 * the map is walked: memory is the cells' counters whatever the number of runs, so an
 * 8 TiB disk with a million extents costs the same as a floppy. Each cell counts the
 * bytes of each kind it holds; adding a run touches only the cells it overlaps, so a
 * walk costs runs + cells.
 */
export class MapCells {
  readonly virtualSize: number;
  readonly cellSize: number;
  readonly count: number;
  /** Bytes of each kind in each cell: `count` rows of MAP_KINDS.length. */
  readonly #bytes: Float64Array;
  #covered = 0;

  constructor(virtualSize: number, options: { maxCells?: number } = {}) {
    this.virtualSize = virtualSize;
    this.cellSize = cellSizeFor(virtualSize, options.maxCells);
    this.count = Math.ceil(virtualSize / this.cellSize);
    this.#bytes = new Float64Array(this.count * MAP_KINDS.length);
  }

  /** Bytes of the disk the runs added so far cover. */
  get covered(): number {
    return this.#covered;
  }

  /** Counts a run of the map. Runs come in order and do not overlap (allocationMap's). */
  add(run: MapRunLike): void {
    const end = run.offset + run.length;
    if (run.offset < 0 || run.length < 0 || end > this.virtualSize) {
      throw new InvalidArgumentError(
        `Map run at ${run.offset} of ${run.length} bytes is outside the disk (${this.virtualSize})`,
      );
    }
    const kind = MAP_KINDS.indexOf(runKind(run));
    let position = run.offset;
    while (position < end) {
      const cell = Math.floor(position / this.cellSize);
      const stop = Math.min(end, (cell + 1) * this.cellSize);
      const slot = cell * MAP_KINDS.length + kind;
      this.#bytes[slot] = (this.#bytes[slot] ?? 0) + (stop - position);
      position = stop;
    }
    this.#covered += run.length;
  }

  /** The bytes of the disk that `cell` covers (the last cell may be short). */
  cellRange(cell: number): { offset: number; length: number } {
    const offset = cell * this.cellSize;
    return { offset, length: Math.min(this.cellSize, this.virtualSize - offset) };
  }

  /** Bytes of `kind` in `cell`. */
  bytes(cell: number, kind: MapKind): number {
    return this.#bytes[cell * MAP_KINDS.length + MAP_KINDS.indexOf(kind)] ?? 0;
  }

  shade(cell: number): CellShade {
    const { length } = this.cellRange(cell);
    for (const kind of MAP_KINDS) {
      const bytes = this.bytes(cell, kind);
      if (bytes > 0) return { kind, whole: bytes === length };
    }
    return { kind: undefined, whole: false };
  }
}
