import type { CellShade, MapKind } from './map-cells.js';

/**
 * The map's colours, from Okabe and Ito's palette for colour-blind readers: blue data,
 * green what a backing image holds, orange allocated zeros, grey holes; a lighter shade
 * when the kind only fills part of the cell. The page's canvas and the SVG use these, so both pictures are the same.
 */
export const MAP_COLOURS = {
  data: { whole: '#0072b2', part: '#7fb8d8' },
  base: { whole: '#009e73', part: '#80cfb9' },
  zero: { whole: '#e69f00', part: '#f2cf80' },
  hole: { whole: '#d9d9d9', part: '#d9d9d9' },
} as const satisfies Record<MapKind, { whole: string; part: string }>;

/** A cell no run has reached yet (the walk is still under way). */
export const PENDING_COLOUR = '#ffffff';

/** Words for each kind, under the picture and in the table. */
export const MAP_KIND_LABELS: Record<MapKind, string> = {
  data: 'data',
  base: 'from a backing image',
  zero: 'allocated, reads as zeros',
  hole: 'hole (not allocated)',
};

export function shadeColour(shade: CellShade): string {
  if (shade.kind === undefined) return PENDING_COLOUR;
  const colours = MAP_COLOURS[shade.kind];
  return shade.whole ? colours.whole : colours.part;
}
