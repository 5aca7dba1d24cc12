import type { BlockStatusRun } from '@vdisk/core';
import {
  cellBars,
  cellPosition,
  humanSize,
  MAP_KIND_LABELS,
  MAP_KINDS,
  type MapGrid,
  type MapRunLike,
  mapGrid,
  runKind,
} from '@vdisk/view';
import type { MapWalk } from './map-walk.js';

/** A run in words, for the status line and the table. */
export function describeRun(run: MapRunLike): string {
  // A backing chain's map says which layer holds the run; 0 is the image itself.
  const depth = run.depth ?? 0;
  const layer = depth > 0 ? ` (layer ${depth} of the backing chain)` : '';
  const where =
    run.fileOffset === undefined ? '' : `, at file offset ${run.fileOffset} (0x${run.fileOffset.toString(16)})`;
  return (
    `Run at ${run.offset} (0x${run.offset.toString(16)}), ${run.length} bytes (${humanSize(run.length)}): ` +
    `${MAP_KIND_LABELS[runKind(run)]}${where}${layer}`
  );
}

/**
 * The allocation map as a picture: MapCells drawn on a canvas, a bar per stretch of equal
 * cells along each row (view's cellBars, as the SVG draws them). Hovering names the exact
 * run under the pointer; the arrow keys move a cell cursor that does the same; Enter or a
 * click picks the offset, which the hex views jump to.
 */
export class MapCanvas {
  readonly element: HTMLElement;
  readonly canvas: HTMLCanvasElement;
  readonly #walk: MapWalk;
  readonly #grid: MapGrid;
  readonly #status: HTMLElement;
  readonly #onPick: (run: BlockStatusRun, offset: number) => void;
  #cellPx = 8;
  #cursor = 0;
  #hover: AbortController | undefined;

  constructor(walk: MapWalk, onPick: (run: BlockStatusRun, offset: number) => void) {
    this.#walk = walk;
    this.#onPick = onPick;
    this.#grid = mapGrid(walk.cells.count);
    this.element = document.createElement('div');
    this.element.className = 'map-picture';
    this.canvas = document.createElement('canvas');
    this.canvas.tabIndex = 0;
    this.canvas.setAttribute('role', 'img');
    this.canvas.setAttribute(
      'aria-label',
      `Allocation map: ${walk.cells.count} cells of ${humanSize(walk.cells.cellSize)}. ` +
        'Arrow keys move between cells, Enter shows the cell in the hex views.',
    );
    this.#status = document.createElement('p');
    this.#status.className = 'map-status';
    this.#status.setAttribute('aria-live', 'polite');
    this.#status.textContent = 'Point at the map, or focus it and use the arrow keys, to see the run there.';
    this.element.append(this.canvas, this.#status);

    this.canvas.addEventListener('pointermove', (event) => this.#point(event, false));
    this.canvas.addEventListener('click', (event) => this.#point(event, true));
    this.canvas.addEventListener('keydown', (event) => this.#key(event));
    this.canvas.addEventListener('focus', () => this.draw());
    this.canvas.addEventListener('blur', () => this.draw());
    new ResizeObserver(() => this.draw()).observe(this.element);
  }

  /** The cell's size in CSS pixels, as last drawn. */
  get cellPx(): number {
    return this.#cellPx;
  }

  draw(): void {
    const { columns, rows } = this.#grid;
    const width = this.element.clientWidth || 640;
    this.#cellPx = Math.max(3, Math.min(14, Math.floor(width / columns)));
    const ratio = window.devicePixelRatio || 1;
    const cssWidth = columns * this.#cellPx;
    const cssHeight = rows * this.#cellPx;
    this.canvas.style.width = `${cssWidth}px`;
    this.canvas.style.height = `${cssHeight}px`;
    this.canvas.width = Math.round(cssWidth * ratio);
    this.canvas.height = Math.round(cssHeight * ratio);
    this.canvas.dataset.cellPx = String(this.#cellPx);
    this.canvas.dataset.columns = String(columns);
    this.canvas.dataset.cells = String(this.#walk.cells.count);
    const context = this.canvas.getContext('2d');
    if (!context) return;
    context.setTransform(ratio, 0, 0, ratio, 0, 0);
    context.fillStyle = '#ffffff';
    context.fillRect(0, 0, cssWidth, cssHeight);
    // A one-pixel gap under each row, as in the SVG, once cells are big enough to spare it.
    const gap = this.#cellPx >= 6 ? 1 : 0;
    for (const bar of cellBars(this.#walk.cells)) {
      context.fillStyle = bar.colour;
      context.fillRect(bar.column * this.#cellPx, bar.row * this.#cellPx, bar.span * this.#cellPx, this.#cellPx - gap);
    }
    if (document.activeElement === this.canvas) {
      const { column, row } = cellPosition(this.#grid, this.#cursor);
      context.strokeStyle = '#000000';
      context.lineWidth = 2;
      context.strokeRect(column * this.#cellPx + 1, row * this.#cellPx + 1, this.#cellPx - 2, this.#cellPx - 2);
    }
  }

  /** The disk offset under a point of the canvas: the cell, and how far across it the pointer is. */
  #offsetAt(x: number, y: number): number | undefined {
    const column = Math.floor(x / this.#cellPx);
    const row = Math.floor(y / this.#cellPx);
    if (column < 0 || column >= this.#grid.columns || row < 0) return undefined;
    const cell = row * this.#grid.columns + column;
    if (cell >= this.#walk.cells.count) return undefined;
    const { offset, length } = this.#walk.cells.cellRange(cell);
    const across = Math.min(0.999999, Math.max(0, (x - column * this.#cellPx) / this.#cellPx));
    return offset + Math.floor((across * length) / 512) * 512;
  }

  #point(event: MouseEvent, pick: boolean): void {
    const box = this.canvas.getBoundingClientRect();
    const offset = this.#offsetAt(event.clientX - box.left, event.clientY - box.top);
    if (offset !== undefined) void this.#show(offset, pick);
  }

  #key(event: KeyboardEvent): void {
    const steps: Record<string, number> = {
      ArrowRight: 1,
      ArrowLeft: -1,
      ArrowDown: this.#grid.columns,
      ArrowUp: -this.#grid.columns,
      Home: -Infinity,
      End: Infinity,
    };
    const step = steps[event.key];
    const last = this.#walk.cells.count - 1;
    if (step !== undefined) {
      event.preventDefault();
      this.#cursor = Number.isFinite(step) ? Math.max(0, Math.min(last, this.#cursor + step)) : step > 0 ? last : 0;
      this.draw();
      void this.#show(this.#walk.cells.cellRange(this.#cursor).offset, false);
    } else if (event.key === 'Enter' || event.key === ' ') {
      event.preventDefault();
      void this.#show(this.#walk.cells.cellRange(this.#cursor).offset, true);
    }
  }

  async #show(offset: number, pick: boolean): Promise<void> {
    this.#hover?.abort();
    const controller = new AbortController();
    this.#hover = controller;
    const cell = Math.floor(offset / this.#walk.cells.cellSize);
    const { offset: start, length } = this.#walk.cells.cellRange(cell);
    const counts = MAP_KINDS.map((kind) => `${kind} ${humanSize(this.#walk.cells.bytes(cell, kind))}`).join(', ');
    const cellText = `Cell ${cell} (${start}–${start + length - 1}): ${counts}.`;
    try {
      const run = await this.#walk.runAt(offset, controller.signal);
      if (controller.signal.aborted) return;
      this.#status.textContent = run ? `${cellText} ${describeRun(run)}` : `${cellText} Not mapped yet.`;
      this.#status.dataset.runOffset = run ? String(run.offset) : '';
      this.#status.dataset.runLength = run ? String(run.length) : '';
      if (run && pick) this.#onPick(run, offset);
    } catch (error) {
      if (!controller.signal.aborted) this.#status.textContent = `${cellText} ${(error as Error).message}`;
    }
  }
}
