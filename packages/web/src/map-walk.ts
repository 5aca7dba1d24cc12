import { allocationMap, type BlockDevice, type BlockStatusRun } from '@vdisk/core';
import { MapCells } from '@vdisk/view';
import { withBreaks } from './event-loop.js';

/** Every this many runs, the walk notes where a run starts: the table seeks from there. */
export const RUNS_PER_CHECKPOINT = 256;

/**
 * One walk of the allocation map that feeds everything the page shows of it, in memory
 * bounded whatever the number of runs: the cells of the picture, where the run covering
 * each cell's start begins (so the run under the pointer is found by walking one cell),
 * and a checkpoint every 256 runs (so the table shows any row by walking at most 256
 * runs from one). A million runs cost 4096 cells and 4000 checkpoints.
 *
 * Starting allocationMap at a run's start yields the same runs from there on as the
 * whole walk did: runs merge only with what follows them.
 */
export class MapWalk {
  readonly device: BlockDevice;
  readonly cells: MapCells;
  /** For each cell, the offset of the run that covers the cell's first byte. */
  readonly #cellRunStart: Float64Array;
  #checkpoints: number[] = [];
  #runCount = 0;
  #done = false;

  constructor(device: BlockDevice) {
    this.device = device;
    this.cells = new MapCells(device.virtualSize);
    this.#cellRunStart = new Float64Array(this.cells.count);
  }

  get runCount(): number {
    return this.#runCount;
  }

  get done(): boolean {
    return this.#done;
  }

  /** Walks the whole map once, calling `onRuns` now and then as it goes. */
  async walk(options: { signal?: AbortSignal; onRuns?(): void } = {}): Promise<void> {
    const { cellSize } = this.cells;
    let lastReport = performance.now();
    for await (const run of withBreaks(allocationMap(this.device, { signal: options.signal }))) {
      if (this.#runCount % RUNS_PER_CHECKPOINT === 0) this.#checkpoints.push(run.offset);
      this.#runCount++;
      this.cells.add(run);
      const end = run.offset + run.length;
      for (let cell = Math.ceil(run.offset / cellSize); cell * cellSize < end; cell++) {
        this.#cellRunStart[cell] = run.offset;
      }
      if (performance.now() - lastReport > 100) {
        lastReport = performance.now();
        options.onRuns?.();
      }
    }
    this.#done = true;
    options.onRuns?.();
  }

  /** Runs `first` to `first + count` of the map (fewer at its end). */
  async runs(first: number, count: number, signal?: AbortSignal): Promise<BlockStatusRun[]> {
    const checkpoint = Math.floor(first / RUNS_PER_CHECKPOINT);
    const offset = this.#checkpoints[checkpoint];
    if (offset === undefined) return [];
    const result: BlockStatusRun[] = [];
    let index = checkpoint * RUNS_PER_CHECKPOINT;
    for await (const run of withBreaks(allocationMap(this.device, { offset, signal }))) {
      if (index >= first) result.push(run);
      index++;
      if (result.length === count || index >= this.#runCount) break;
    }
    return result;
  }

  /** The run that holds byte `offset` of the disk, whole, once the walk has passed it. */
  async runAt(offset: number, signal?: AbortSignal): Promise<BlockStatusRun | undefined> {
    const cell = Math.floor(offset / this.cells.cellSize);
    if (this.cells.covered <= offset) return undefined;
    const from = this.#cellRunStart[cell] ?? 0;
    for await (const run of withBreaks(allocationMap(this.device, { offset: from, signal }))) {
      if (run.offset + run.length > offset) return run;
    }
    return undefined;
  }
}
