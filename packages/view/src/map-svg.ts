import { humanSize } from './human-size.js';
import { MAP_KINDS, type MapCells } from './map-cells.js';
import { cellPosition, mapGrid } from './map-grid.js';
import { MAP_COLOURS, MAP_KIND_LABELS, shadeColour } from './map-palette.js';

/** Pixels from one cell to the next in the SVG; each row keeps a one-pixel gap below it. */
export const SVG_CELL = 12;

/**
 * Runs of equal colour along each grid row, one rectangle each: the picture the page's
 * canvas draws, in a few hundred rectangles rather than one per cell.
 */
export function cellBars(cells: MapCells): Array<{ row: number; column: number; span: number; colour: string }> {
  const grid = mapGrid(cells.count);
  const bars: Array<{ row: number; column: number; span: number; colour: string }> = [];
  for (let index = 0; index < cells.count; index++) {
    const { row, column } = cellPosition(grid, index);
    const colour = shadeColour(cells.shade(index));
    const last = bars[bars.length - 1];
    if (last && last.row === row && last.colour === colour) last.span++;
    else bars.push({ row, column, span: 1, colour });
  }
  return bars;
}

function escapeXml(text: string): string {
  return text.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/**
 * The allocation map as an SVG document (`vdisk map --output=svg`): the grid of cells,
 * a caption naming the disk and the cell size, and a legend.
 */
export function mapSvg(cells: MapCells, title: string): string {
  const grid = mapGrid(cells.count);
  const width = Math.max(grid.columns * SVG_CELL, 360);
  const gridHeight = grid.rows * SVG_CELL;
  const caption =
    `${title}: ${humanSize(cells.virtualSize)} (${cells.virtualSize} bytes), ` +
    `one cell = ${humanSize(cells.cellSize)}`;
  const legendTop = gridHeight + 28;
  const height = legendTop + MAP_KINDS.length * 18 + 8;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}"` +
      ' font-family="sans-serif" font-size="12">',
    `<title>${escapeXml(`Allocation map of ${title}`)}</title>`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  for (const bar of cellBars(cells)) {
    parts.push(
      `<rect x="${bar.column * SVG_CELL}" y="${bar.row * SVG_CELL}" width="${bar.span * SVG_CELL}"` +
        ` height="${SVG_CELL - 1}" fill="${bar.colour}"/>`,
    );
  }
  parts.push(`<text x="0" y="${gridHeight + 16}">${escapeXml(caption)}</text>`);
  MAP_KINDS.forEach((kind, i) => {
    const y = legendTop + i * 18;
    parts.push(
      `<rect x="0" y="${y}" width="12" height="12" fill="${MAP_COLOURS[kind].whole}"/>`,
      `<rect x="14" y="${y}" width="12" height="12" fill="${MAP_COLOURS[kind].part}"/>`,
      `<text x="32" y="${y + 10}">${escapeXml(MAP_KIND_LABELS[kind])} (whole cell, part of it)</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
