/** The picture's grid: 64 cells a row (fewer for a tiny disk), rows as needed. */
export const MAP_COLUMNS = 64;

export interface MapGrid {
  columns: number;
  rows: number;
}

export function mapGrid(cellCount: number): MapGrid {
  const columns = Math.max(1, Math.min(MAP_COLUMNS, cellCount));
  return { columns, rows: Math.max(1, Math.ceil(cellCount / columns)) };
}

/** Where cell `index` is in the grid. */
export function cellPosition(grid: MapGrid, index: number): { column: number; row: number } {
  return { column: index % grid.columns, row: Math.floor(index / grid.columns) };
}
