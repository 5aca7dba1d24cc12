import type { BlockStatusRun } from '@vdisk/core';
import { MAP_KIND_LABELS, runKind } from '@vdisk/view';
import type { MapWalk } from './map-walk.js';
import { VirtualRows } from './virtual-rows.js';

const COLUMNS = ['Start', 'Length', 'Kind', 'File offset'];

/** The allocation map as a table of its runs, virtualized: any row of a million. */
export class MapTable {
  readonly element: HTMLElement;
  readonly rows: VirtualRows;
  readonly #walk: MapWalk;

  constructor(walk: MapWalk, onPick: (run: BlockStatusRun) => void) {
    this.#walk = walk;
    this.element = document.createElement('div');
    this.element.className = 'map-table';
    this.element.setAttribute('role', 'table');
    this.element.setAttribute('aria-label', 'Allocation map runs');
    const header = document.createElement('div');
    header.className = 'row header';
    header.setAttribute('role', 'row');
    for (const name of COLUMNS) {
      const cell = document.createElement('span');
      cell.setAttribute('role', 'columnheader');
      cell.textContent = name;
      header.append(cell);
    }
    this.rows = new VirtualRows({
      lines: 10,
      label: 'Allocation map runs: arrow keys scroll, Enter shows the top run in the hex views',
      render: async (first, count, signal) => {
        const runs = await walk.runs(first, count, signal);
        return runs.map((run) => {
          const row = document.createElement('div');
          row.className = `row ${runKind(run)}`;
          row.setAttribute('role', 'row');
          row.dataset.start = String(run.offset);
          const values = [
            String(run.offset),
            String(run.length),
            MAP_KIND_LABELS[runKind(run)],
            run.fileOffset === undefined ? '' : String(run.fileOffset),
          ];
          for (const value of values) {
            const cell = document.createElement('span');
            cell.setAttribute('role', 'cell');
            cell.textContent = value;
            row.append(cell);
          }
          row.addEventListener('click', () => onPick(run));
          return row;
        });
      },
    });
    // Enter picks the run at the top of the view (the arrow keys scroll the runs).
    this.rows.element.addEventListener('keydown', (event) => {
      if (event.key !== 'Enter') return;
      event.preventDefault();
      this.rows.element.querySelector<HTMLElement>('.row')?.click();
    });
    this.element.append(header, this.rows.element);
  }

  /** Shows the rows the walk has found so far. */
  update(): void {
    if (this.rows.count !== this.#walk.runCount) this.rows.setCount(this.#walk.runCount);
  }
}
