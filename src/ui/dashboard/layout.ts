// Fits the panels to the terminal: the samples take the largest scale that leaves the chart
// room, the chart takes the rest. The frame stays below the terminal's height, since Ink
// clears the whole screen on every redraw of a frame that fills it.
import { GAP, glyphSize } from './glyphs.js';

export interface Size {
  columns: number;
  rows: number;
}

export interface Layout {
  chartHeight: number;
  /** 1 = one character per pixel column; 2 = 2x2 blocks averaged; ... */
  sampleScale: number;
  /** How many images fit side by side (0: the terminal is too small for any). */
  sampleFit: number;
  sampleRows: number;
}

export const MIN_CHART = 3;
export const MAX_CHART = 12;

const clamp = (v: number, lo: number, hi: number) => Math.max(lo, Math.min(hi, v));

/** `fixedRows`: every row but the chart's and the images'. */
export function layout(size: Size, fixedRows: number, image: { height: number; width: number } | null): Layout {
  const budget = size.rows - 1 - fixedRows;
  if (image) {
    for (let scale = 1; scale <= Math.max(image.height, image.width); scale++) {
      const g = glyphSize(image.height, image.width, scale);
      if (g.rows + MIN_CHART <= budget && g.columns <= size.columns) {
        const sampleFit = Math.floor((size.columns + GAP) / (g.columns + GAP));
        return { chartHeight: clamp(budget - g.rows, MIN_CHART, MAX_CHART), sampleScale: scale, sampleFit, sampleRows: g.rows };
      }
    }
  }
  return { chartHeight: clamp(budget, MIN_CHART, MAX_CHART), sampleScale: 1, sampleFit: 0, sampleRows: 0 };
}
