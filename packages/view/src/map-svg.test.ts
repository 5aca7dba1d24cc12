import { describe, expect, it } from 'vitest';
import { MapCells } from './map-cells.js';
import { MAP_COLOURS, PENDING_COLOUR } from './map-palette.js';
import { cellBars, mapSvg, SVG_CELL } from './map-svg.js';

describe('mapSvg', () => {
  // 130 cells of 512 bytes: two full rows of 64 and a row of 2.
  const cells = new MapCells(130 * 512);
  cells.add({ offset: 0, length: 512 * 3, data: true });
  cells.add({ offset: 512 * 3, length: 256, data: false, allocated: true });
  cells.add({ offset: 512 * 3 + 256, length: 256, data: true });
  cells.add({ offset: 512 * 4, length: 512 * 124, data: false });

  it('draws runs of equal cells along each row as one bar, breaking at row ends', () => {
    expect(cellBars(cells)).toEqual([
      { row: 0, column: 0, span: 3, colour: MAP_COLOURS.data.whole },
      { row: 0, column: 3, span: 1, colour: MAP_COLOURS.data.part },
      { row: 0, column: 4, span: 60, colour: MAP_COLOURS.hole.whole },
      { row: 1, column: 0, span: 64, colour: MAP_COLOURS.hole.whole },
      { row: 2, column: 0, span: 2, colour: PENDING_COLOUR },
    ]);
  });

  it('is an SVG document with a title, the bars, a caption and a legend', () => {
    const svg = mapSvg(cells, 'disk <1>.img');
    expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg" width="768" height=')).toBe(true);
    expect(svg).toContain('<title>Allocation map of disk &#60;1&#62;.img</title>');
    expect(svg).toContain(
      `<rect x="${3 * SVG_CELL}" y="0" width="${SVG_CELL}" height="${SVG_CELL - 1}" fill="${MAP_COLOURS.data.part}"/>`,
    );
    expect(svg).toContain('disk &#60;1&#62;.img: 65 KiB (66560 bytes), one cell = 512 B');
    expect(svg).toContain('allocated, reads as zeros');
    expect(svg.trimEnd().endsWith('</svg>')).toBe(true);
  });
});
