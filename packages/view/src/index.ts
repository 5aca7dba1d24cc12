export { formatG3, humanSize } from './human-size.js';
export { type InfoFacts, infoLines } from './info-text.js';
export {
  type CellShade,
  cellSizeFor,
  MAP_KINDS,
  MAX_MAP_CELLS,
  MapCells,
  type MapKind,
  type MapRunLike,
  MIN_CELL_SIZE,
  runKind,
} from './map-cells.js';
export { cellPosition, MAP_COLUMNS, type MapGrid, mapGrid } from './map-grid.js';
export { MAP_COLOURS, MAP_KIND_LABELS, PENDING_COLOUR, shadeColour } from './map-palette.js';
export { cellBars, mapSvg, SVG_CELL } from './map-svg.js';
