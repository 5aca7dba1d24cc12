import type { BlockDevice, BlockStatusRun } from '@vdisk/core';
import { MapCells } from '@vdisk/view';
import { mapRuns } from './map-runs.js';

/** Every this many runs, the walk notes where a run starts: the table seeks from there. */
export const RUNS_PER_CHECKPOINT = 256;
/** The first runs are kept whole (about 1.5 MiB of them at most): most images have fewer. */
export const KEPT_RUNS = 16384;

/**
 * One walk of the allocation map that feeds everything the page shows of it, in memory
 * bounded whatever the number of runs: the cells of the picture, where the run covering
 * each cell's start begins (so the run under the pointer is found by walking one cell),
 * and a checkpoint every 256 runs (so the table shows any row by walking at most 256
 * runs from one). A million runs cost 4096 cells and 4000 checkpoints.
 *
 * Starting the map at a run's start yields the same runs from there on as the whole walk
 * did: runs merge only with what follows them.
 */
export class MapWalk {
  readonly device: BlockDevice;
  readonly cells: MapCells;
  /** For each cell, the offset of the run that covers the cell's first byte. */
  readonly #cellRunStart: Float64Array;
  #checkpoints: number[] = [];
  readonly #kept: BlockStatusRun[] = [];
  readonly #keep: number;
  #runCount = 0;
  #done = false;

  /** `keep`: how many of the first runs to keep whole (default KEPT_RUNS). */
  constructor(device: BlockDevice, options: { keep?: number } = {}) {
    this.device = device;
    this.#keep = options.keep ?? KEPT_RUNS;
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
    for await (const run of mapRuns(this.device, { signal: options.signal })) {
      if (this.#runCount % RUNS_PER_CHECKPOINT === 0) this.#checkpoints.push(run.offset);
      if (this.#runCount < this.#keep) this.#kept.push(run);
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
    const end = Math.min(first + count, this.#runCount);
    if (end <= this.#kept.length) return this.#kept.slice(first, end);
    const checkpoint = Math.floor(first / RUNS_PER_CHECKPOINT);
    const offset = this.#checkpoints[checkpoint];
    if (offset === undefined) return [];
    const result: BlockStatusRun[] = [];
    let index = checkpoint * RUNS_PER_CHECKPOINT;
    for await (const run of mapRuns(this.device, { offset, signal })) {
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
    const kept = this.#kept;
    const last = kept[kept.length - 1];
    if (last && offset < last.offset + last.length) {
      // Binary search of the kept runs, which cover the disk from 0 in order.
      let low = 0;
      let high = kept.length - 1;
      while (low < high) {
        const middle = (low + high) >> 1;
        const run = kept[middle] as BlockStatusRun;
        if (run.offset + run.length <= offset) low = middle + 1;
        else high = middle;
      }
      return kept[low];
    }
    const from = this.#cellRunStart[cell] ?? 0;
    for await (const run of mapRuns(this.device, { offset: from, signal })) {
      if (run.offset + run.length > offset) return run;
    }
    return undefined;
  }
}
